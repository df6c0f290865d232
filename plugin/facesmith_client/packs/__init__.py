"""Model packs on the user's machine: the catalogue of known packs, resumable verified
downloads, and the store (install, verify, describe, remove).

May import the ``facesmith`` base, ``events``, ``remote`` (where the default pack is) and the
server's pack reader.
"""
