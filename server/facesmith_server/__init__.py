"""facesmith's server: model packs, StyleGAN2 and e4e networks, inversion, edits, gRPC.

Sub-packages by role, bottom to top (tests/test_layers.py keeps the direction): ``model``
(the networks in plain PyTorch, their checkpoints in the official layouts, the identity
network, and model packs), ``latent`` (what is done with latents: inversion and refinement,
edits, direction fitting and Z → W conversion), ``service`` (the engine that serves requests,
its caches and the thin gRPC servicer). At this level: ``errors`` and ``devices``, which all
use; ``cli`` (`facesmith-server`) and ``bench`` on top.
"""

__version__ = "0.1.0"
