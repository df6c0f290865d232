"""Writing a model pack from trained parts: manifest, fp16 weights, directions, report.

May import the server's pack format and ``data``, ``gan``, ``classify``, ``directions``.
"""
