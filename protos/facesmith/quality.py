"""How hard the server works to invert a face, by quality setting, and the edit modes: one
place for the names and limits the command line, the client and the server share (no torch);
the seed and truncation limits of generated faces, and how far a face from a sketch follows
its lines; the modes of the client's paste-back.

"encoder": the encoder only; "refine": then optimisation in W+; "pivotal": then pivotal
tuning of a generator copy per face; "default": refinement where it is cheap (small packs),
else the encoder only.
"""

from __future__ import annotations

QUALITIES = ("default", "encoder", "refine", "pivotal")
EDIT_MODES = ("relative", "set", "swap")
# How an edited face goes back into the photo (the client's paste-back): "adaptive" takes the
# render (with the photo's finest detail) where the edit changes the face much and adds only
# the change elsewhere; "residual" only adds the change; "replace" pastes the render.
PASTE_MODES = ("adaptive", "residual", "replace")
DEFAULT_PASTE_MODE = "adaptive"
MAX_REFINE_STEPS = 2000
MAX_PIVOTAL_STEPS = 1000
DEFAULT_REFINE_STEPS = 100  # of "refine" and "pivotal"
CHEAP_REFINE_STEPS = 40  # of "default" on packs up to CHEAP_REFINE_MAX_RESOLUTION
CHEAP_REFINE_MAX_RESOLUTION = 128  # px: refinement takes seconds on a CPU
DEFAULT_PIVOTAL_STEPS = 60
MAX_SEED = 2**32 - 1  # of a generated face
DEFAULT_TRUNCATION = 0.7  # of a generated face: 0 the average face, 1 none
SKETCH_FOLLOW_STEPS = 100  # refinement steps against a drawing's lines at follow 1
DEFAULT_FOLLOW = 0.0  # of a face from a sketch: encoder only (refining washes drawings out)


def most_steps(quality: str, refine_steps: int, pivotal_steps: int) -> tuple[int, int]:
    """The most (refinement, pivotal-tuning) steps a server may run for these options, whatever
    its pack, at its default settings (what a client's deadline must allow for)."""
    if quality == "encoder":
        return refine_steps, 0
    if quality == "default":
        return refine_steps or CHEAP_REFINE_STEPS, 0
    refine = refine_steps or DEFAULT_REFINE_STEPS
    return refine, (pivotal_steps or DEFAULT_PIVOTAL_STEPS) if quality == "pivotal" else 0
