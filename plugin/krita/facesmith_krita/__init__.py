"""facesmith for Krita: face edits (older, younger, bald, gender, smile) on a new layer.

Krita imports this package at start-up; registering the menu actions and the docker is all it
does then (no worker, no network). ``apply`` is the same edit path without any UI, for scripts.
"""

import os
import sys


def _find_host_link() -> None:
    """facesmith_host lies beside this package when the installer put it there, and inside it
    (vendor/) when Krita imported the release zip: use the vendored one only if needed."""
    try:
        import facesmith_host  # noqa: F401
    except ImportError:
        sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "vendor"))


_find_host_link()

from .extension import register  # noqa: E402

register()
