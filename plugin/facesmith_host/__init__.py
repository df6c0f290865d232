"""Host side of facesmith that runs inside Krita and GIMP: standard library only.

It starts the facesmith runtime (its own Python environment) as a child process and talks to
it over the framed protocol in ``protocol``; ``jobs`` holds the calls adapters make.
"""

from facesmith_host.protocol import PROTOCOL_VERSION

__all__ = ["PROTOCOL_VERSION"]
