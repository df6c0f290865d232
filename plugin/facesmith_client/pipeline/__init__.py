"""A photo through the stages: detect, align, invert and edit on the server, paste back
(`photo`); contact sheets across an edit's range (`sweep`); the `facesmith score` measurements
(`score`).

May import the ``facesmith`` base, ``events``, ``vision`` and ``remote``.
"""
