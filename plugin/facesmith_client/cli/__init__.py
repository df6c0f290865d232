"""The `facesmith` command line: one module per command (its parser and its run function).

Parsers import nothing heavy, so reading a command line is instant; a command imports the
stages, the client, the server or the training package when it runs. The arguments several
commands share are in ``facesmith.arguments``; ``connect`` makes the connection to a server.
Top layer: may import every other part of facesmith; nothing imports it.
"""
