"""facesmith's host-side runtime: everything between a photo and the server.

Sub-packages by role, bottom to top (tests/test_layers.py keeps the direction):
``events`` (typed progress / result / error messages) and ``vision`` (detection, alignment,
masks and paste-back, image files) need only the ``facesmith`` base; ``remote`` talks to a
server (the client interface, gRPC, a fake, a local server); ``packs`` installs and verifies
model packs; ``pipeline`` runs a photo through the stages; ``host`` is the worker the Krita
and GIMP adapters start; ``cli`` holds the `facesmith` commands and imports the rest lazily.
"""
