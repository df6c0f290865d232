"""Attribute classifiers (a small CNN per yes/no label) that score edits and label samples.

May import the server package, ``data`` and ``facesmith_train``'s helpers.
"""
