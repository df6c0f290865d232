"""How a model pack frames faces: the alignment template, and its text in manifests and
ServerInfo.alignment (shared by the server, which validates packs, and the runtime, which
aligns faces to match).

    "ffhq"                                                   the FFHQ recipe
    "template eye_scale=2.2 mouth_scale=1.98 centre_shift=0" a pack's own framing

The crop is an oriented square around the five landmarks: its half-side is at least
eye_scale × the eye distance and mouth_scale × the eye-to-mouth distance, and its centre lies
centre_shift of the way from the eyes' midpoint to the mouth's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

FFHQ_NAME = "ffhq"
TEMPLATE_PREFIX = "template"


@dataclass(frozen=True)
class Template:
    """Framing of the crop relative to the landmarks (FFHQ's numbers by default)."""

    eye_scale: float = 2.0
    mouth_scale: float = 1.8
    centre_shift: float = 0.1

    def __post_init__(self) -> None:
        if not all(math.isfinite(getattr(self, f.name)) for f in fields(self)):
            raise ValueError("template values must be finite")
        if not (self.eye_scale > 0 and self.mouth_scale > 0):
            raise ValueError("eye_scale and mouth_scale must be positive")

    def to_manifest(self) -> str:
        if self == FFHQ:
            return FFHQ_NAME
        values = " ".join(f"{f.name}={getattr(self, f.name):g}" for f in fields(self))
        return f"{TEMPLATE_PREFIX} {values}"


FFHQ = Template()


def parse_alignment(text: str) -> Template:
    """The template a manifest's "alignment" names; ValueError saying what is wrong."""
    words = text.split()
    if words == [FFHQ_NAME]:
        return FFHQ
    if not words or words[0] != TEMPLATE_PREFIX:
        raise ValueError(
            f"alignment must be {FFHQ_NAME!r} or "
            f"'{TEMPLATE_PREFIX} eye_scale=… mouth_scale=… centre_shift=…', got {text!r}"
        )
    names = {f.name for f in fields(Template)}
    values: dict[str, float] = {}
    for word in words[1:]:
        name, _, value = word.partition("=")
        if name not in names or name in values:
            raise ValueError(f"unknown or repeated alignment field {name!r} in {text!r}")
        try:
            values[name] = float(value)
        except ValueError:
            raise ValueError(f"alignment field {name!r} needs a number, got {value!r}") from None
    if set(values) != names:
        raise ValueError(f"alignment {text!r} must give all of {sorted(names)}")
    return Template(**values)
