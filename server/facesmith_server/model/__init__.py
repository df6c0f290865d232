"""The networks and the packs that hold them: StyleGAN2 generator and its layers and ops,
the e4e encoder, the face recognition network used as an identity loss, checkpoint readers
and writers in the official layouts, the pack manifest and loader, and the tiny test pack.

May import only the ``facesmith`` base and ``facesmith_server.errors`` / ``devices``.
"""
