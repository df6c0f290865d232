"""Training data: labelled images streamed from the dataset tars (`datasets`), the framing
choice (`framing`), detection and alignment into one .npz per dataset (`prepare`), and the one
reader of those files and their estimates (`prepared`).

May import the ``facesmith`` base, the runtime's ``vision`` stages and ``facesmith_train``'s
helpers.
"""
