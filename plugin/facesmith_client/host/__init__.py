"""The runtime worker that the Krita and GIMP adapters start (`python -m
facesmith_client.host.worker`): framed requests on stdin, replies on stdout (`worker`), and
their translation into pipeline calls in the host's pixel layouts (`session`).

May import ``facesmith_host`` (the protocol), the ``facesmith`` base, ``events``, ``vision``,
``remote`` and ``pipeline``.
"""
