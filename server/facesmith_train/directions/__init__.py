"""Edit directions in W: fitted on encoded, labelled training faces (`from_labels`).

May import the server's fitting and inversion, ``data``, ``gan`` and ``classify``.
"""
