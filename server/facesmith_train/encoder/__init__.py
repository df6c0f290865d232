"""e4e-style encoder training into the W+ space of a frozen generator: settings, losses, the
loop and its command-line options.

May import the server's networks, ``data`` and ``gan`` (its checkpoints and discriminator).
"""
