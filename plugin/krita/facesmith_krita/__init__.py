"""facesmith for Krita: face edits (older, younger, bald, gender, smile) on a new layer.

Krita imports this package at start-up; registering the menu actions and the docker is all it
does then (no worker, no network). ``apply`` is the same edit path without any UI, for scripts.
"""

from .extension import register

register()
