"""Serving requests: the engine (pack, caches, work queue), the latent and pivot caches, and
the thin gRPC servicer whose domain errors map to status codes in one place.

May import ``model``, ``latent``, the ``facesmith`` wire format and the package's
``errors`` / ``devices``.
"""
