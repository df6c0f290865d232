"""How hard the server works to invert a face, by quality setting (no torch here: the
command line reads these defaults).

"encoder": the encoder only; "refine": then optimisation in W+; "pivotal": then pivotal
tuning of a generator copy per face; "default": refinement where it is cheap (small packs),
else the encoder only.
"""

from __future__ import annotations

QUALITIES = ("default", "encoder", "refine", "pivotal")
MAX_REFINE_STEPS = 2000
MAX_PIVOTAL_STEPS = 1000
DEFAULT_REFINE_STEPS = 100  # of "refine" and "pivotal"
CHEAP_REFINE_STEPS = 40  # of "default" on packs up to CHEAP_REFINE_MAX_RESOLUTION
CHEAP_REFINE_MAX_RESOLUTION = 128  # px: refinement takes seconds on a CPU
DEFAULT_PIVOTAL_STEPS = 60
