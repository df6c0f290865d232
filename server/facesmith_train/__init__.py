"""Training the project's own model pack, one sub-package per stage, in the order they run:
``data`` (read the dataset tars, detect, frame, align, and the one reader of prepared files),
``gan`` (StyleGAN2 generator and discriminator, optionally label-conditioned), ``classify``
(attribute classifiers), ``encoder`` (e4e-style encoder), ``directions`` (edit directions),
``pack`` (the pack files), ``measure`` (instruments, estimates, figures, monitoring).

A stage imports earlier stages, the server's networks and the runtime's vision stages (so
training sees faces as the runtime does); the `facesmith train` commands (facesmith_client.cli)
import it lazily. The modules at this level are helpers every stage uses.
"""
