"""Measuring a pack and a training run: the instruments (age and gender, identity, faces
found), the sets of faces, the figures and their targets, diversity of samples, the
monitor over a GAN run's snapshots and estimates of the training data.

Top of training: may import every other stage, the runtime's ``vision`` and ``pipeline``.
"""
