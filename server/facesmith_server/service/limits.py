"""What one request may cost, checked before any work is done for it.

Every check here reads only what the message declares (face count, PNG headers or raw shape
fields, edit and hold names, the reply it would need): nothing is decoded, inverted or
rendered for a request that a limit refuses. Failures are InvalidInput (the client's fault →
INVALID_ARGUMENT) with messages that quote client strings only cut short (``shown``).

Knows the wire messages but not gRPC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facesmith import wire
from facesmith.v1 import facesmith_pb2 as pb
from facesmith_server.errors import InvalidInput

MAX_EDITS = 32  # edits in one request
MAX_HOLDS = 16  # directions held fixed by one edit
MAX_NAME_CHARS = 64  # an edit or held direction's name
MAX_HANDLE_CHARS = 64  # a cache handle (the server makes 24 hex digits)
SHOWN_CHARS = 40  # client strings quoted in messages are cut to this
MAX_DETAILS_CHARS = 1000  # a status message (gRPC carries it in 8 KiB of metadata)
# Working memory one request may take: its faces as decoded arrays plus the float copies the
# model makes of them (about three float32 RGB copies per face).
MAX_DECODED_BYTES = 256 * 2**20
MAX_WORK_BYTES = 512 * 2**20
FLOAT_COPIES = 3
# What one reply may need besides its images: a latent per face and the message framing.
REPLY_SLACK_BYTES = 64 * 1024


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` quoted for a message, cut to ``limit`` characters."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"… ({len(text)} characters)"


def cut_details(message: str, limit: int = MAX_DETAILS_CHARS) -> str:
    """A status message no longer than ``limit`` characters."""
    return message if len(message) <= limit else message[: limit - 1] + "…"


def max_faces(resolution: int) -> int:
    """Faces of ``resolution`` px one request may hold (the protocol's limit, or fewer for
    large faces so that one request's working memory stays under MAX_WORK_BYTES)."""
    per_face = resolution * resolution * 3 * 4 * FLOAT_COPIES
    return int(max(1, min(wire.MAX_FACES, MAX_WORK_BYTES // max(per_face, 1))))


def check_faces(faces: Sequence[pb.Image], resolution: int, noun: str = "face") -> None:
    """InvalidInput unless there are 1..max_faces faces (or drawings: ``noun``), each declaring
    an aligned ``resolution``² crop with 1, 3 or 4 channels, within the decoded budget — all
    read from headers, before any face is decoded."""
    limit = max_faces(resolution)
    if not faces:
        raise InvalidInput(f"no {noun}s in the request")
    if len(faces) > limit:
        raise InvalidInput(
            f"{len(faces)} {noun}s in one request; at most {limit} of {resolution} px "
            "(send them in several requests)"
        )
    total = 0
    for i, face in enumerate(faces):
        try:
            height, width, channels, dtype = wire.declared_shape(face)
        except ValueError as err:
            raise InvalidInput(f"{noun} {i}: {err}") from None
        if (height, width) != (resolution, resolution):
            side = f"{resolution}x{resolution}"
            wanted = f"aligned {side} crops" if noun == "face" else f"{side} {noun}s"
            raise InvalidInput(f"{noun} {i} is {width}x{height}; this pack needs {wanted}")
        total += height * width * channels * dtype.itemsize
    if total > MAX_DECODED_BYTES:
        raise InvalidInput(
            f"the {noun}s would take {total / 2**20:.0f} MiB decoded; at most "
            f"{MAX_DECODED_BYTES / 2**20:.0f} MiB per request"
        )


def check_pixels(crop: np.ndarray, index: int) -> np.ndarray:
    """A decoded face whose values are usable: float pixels must be finite (NaN or infinity
    would invert to a NaN latent); they are clipped to the 0..1 the conventions promise."""
    if crop.dtype == np.float32:
        if not np.isfinite(crop).all():
            raise InvalidInput(f"face {index} holds NaN or infinite pixel values")
        if crop.min(initial=0.0) < 0.0 or crop.max(initial=0.0) > 1.0:
            crop = np.clip(crop, 0.0, 1.0)
    return crop


def check_latents(latents: Sequence[np.ndarray]) -> None:
    """InvalidInput if a latent holds NaN or infinite values (never cached, never sent)."""
    for i, latent in enumerate(latents):
        if not np.isfinite(latent).all():
            raise InvalidInput(
                f"face {i}: its latent holds NaN or infinite values; try fewer refine steps "
                "or a lower refine_lr"
            )


def check_edit_specs(edits: Sequence[Any]) -> None:
    """InvalidInput for more than MAX_EDITS edits, an edit named twice, more than MAX_HOLDS
    holds, a hold named twice, or a name longer than MAX_NAME_CHARS — before any direction
    is looked up (EditSpec messages: ``name``, ``hold``)."""
    if len(edits) > MAX_EDITS:
        raise InvalidInput(f"{len(edits)} edits in one request; at most {MAX_EDITS}")
    seen: set[str] = set()
    for edit in edits:
        _check_name(edit.name, "edit")
        if edit.name in seen:
            raise InvalidInput(f"edit {shown(edit.name)} is given more than once")
        seen.add(edit.name)
        holds = edit.hold
        if len(holds) > MAX_HOLDS:
            raise InvalidInput(
                f"edit {shown(edit.name)} holds {len(holds)} directions; at most {MAX_HOLDS}"
            )
        held: set[str] = set()
        for name in holds:
            _check_name(name, "held direction")
            if name in held:
                raise InvalidInput(f"edit {shown(edit.name)} holds {shown(name)} twice")
            held.add(name)


def _check_name(name: str, what: str) -> None:
    if not name:
        raise InvalidInput(f"an {what} has no name")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"{what} name {shown(name)} is longer than {MAX_NAME_CHARS} characters")


def check_latent_refs(refs: Sequence[pb.LatentRef], num_ws: int, dim: int) -> None:
    """InvalidInput for 0 or more than MAX_FACES faces, an over-long handle or a latent that
    declares another shape than [1 or num_ws, dim] — before any latent is decoded."""
    if not refs:
        raise InvalidInput("no faces to render")
    if len(refs) > wire.MAX_FACES:
        raise InvalidInput(f"{len(refs)} faces in one request; at most {wire.MAX_FACES}")
    for i, ref in enumerate(refs):
        kind = ref.WhichOneof("source")
        if kind == "handle" and len(ref.handle) > MAX_HANDLE_CHARS:
            raise InvalidInput(f"face {i}: latent handle {shown(ref.handle)} is unknown")
        if kind == "latent":
            shape = (ref.latent.num_ws, ref.latent.dim)
            if shape[1] != dim or shape[0] not in (1, num_ws):
                raise InvalidInput(
                    f"face {i}: latent must be [1, {dim}] or [{num_ws}, {dim}], got {list(shape)}"
                )


@dataclass(frozen=True)
class Reply:
    """What a reply will carry: ``faces`` images of ``side`` px in ``dtype`` (and as many
    reconstructions when ``reconstructions``), a latent of ``latent_values`` per face."""

    faces: int
    side: int
    dtype: np.dtype
    reconstructions: bool
    latent_values: int

    def bytes(self) -> int:
        """An upper bound of the reply's size: raw pixels (a PNG of noise is no smaller,
        plus a filter byte per row and some framing), a float per latent value."""
        image = self.side * self.side * 3 * self.dtype.itemsize + self.side + 1024
        per_face = image * (2 if self.reconstructions else 1) + 5 * self.latent_values + 128
        return self.faces * per_face + REPLY_SLACK_BYTES


def check_reply_fits(reply: Reply, max_message_bytes: int) -> None:
    """InvalidInput if the reply could exceed the message limit: refused before the work, not
    after it, and saying how many faces fit."""
    size = reply.bytes()
    if size <= max_message_bytes:
        return
    per_face = max(1, (size - REPLY_SLACK_BYTES) // max(reply.faces, 1))
    fit = max(0, (max_message_bytes - REPLY_SLACK_BYTES) // per_face)
    raise InvalidInput(
        f"the reply for {reply.faces} faces of {reply.side} px ({reply.dtype}) could reach "
        f"{size / 2**20:.1f} MiB, over the {max_message_bytes / 2**20:.0f} MiB message limit: "
        f"send at most {fit} such faces per request"
    )
