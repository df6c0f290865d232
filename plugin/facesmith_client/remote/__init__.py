"""Talking to a facesmith server: the abstract client (`client`), the gRPC client, a fake
client for tests and UIs, and a local server started for a run.

May import the ``facesmith`` base, ``facesmith_client.events``, ``facesmith_host.places``
(per-user folders) and, lazily, the server package (to make a test pack).
"""
