"""facesmith server: model packs, StyleGAN2 generator, e4e encoder, inversion, edits, gRPC."""

__version__ = "0.1.0"
