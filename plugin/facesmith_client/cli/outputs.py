"""Where `facesmith edit` writes, planned for the whole batch before anything is written, so
that nothing a photographer gives us is lost:

- an output never lands on an input (``a.jpg`` and ``a_facesmith.jpg`` edited together: the
  first's result becomes ``a_facesmith-2.jpg``), nor on another output of the same run (two
  ``photo.jpg`` from different folders into one --out-dir: ``photo_facesmith.jpg`` and
  ``photo_facesmith-2.jpg``) — names are numbered in the order the inputs were given, so a
  re-run plans the same names;
- an output that already exists is skipped unless --overwrite is given; then it is replaced
  (atomically, and a symbolic link there is replaced, never followed);
- missing files and folders given as inputs are reported and skipped like unreadable ones.

Argparse and the standard library only: nothing heavy is imported here.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from facesmith.files import same_file_key
from facesmith_client.cli.connect import CliError

EXAMPLE_NAME = "astronaut"  # loads skimage.data.astronaut() unless a file of that name exists
OUTPUT_SUFFIX = "_facesmith"


def add_output_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace results that already exist (default: skip those photos)",
    )


def int_between(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high] (high None: no upper bound), with a
    message that says so."""
    what = f"from {low} to {high}" if high is not None else f"of at least {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number {what}, got {text!r}"
            ) from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be a whole number {what}, got {value}")
        return value

    return parse


@dataclass(frozen=True)
class Planned:
    """One input and where its result goes."""

    name: str
    out: Path
    exists: bool  # something (a file, a link) is already there


def to_write(plans: Sequence[Planned], overwrite: bool) -> list[Planned]:
    """The plans whose output may be written; those already there are skipped, saying so,
    unless ``overwrite``."""
    from facesmith_client.cli.connect import status

    todo = []
    for plan in plans:
        if plan.exists and not overwrite:
            status(f"{plan.name}: {plan.out} already exists — skipped (--overwrite replaces it)")
        else:
            todo.append(plan)
    return todo


def output_path(name: str, out_dir: Path | None, tag: str = OUTPUT_SUFFIX, ext: str = "") -> Path:
    """Where the result for input ``name`` goes: STEM + tag + extension, never the input."""
    source = Path(name)
    if name == EXAMPLE_NAME and not source.exists():
        source = Path(f"{EXAMPLE_NAME}.png")
    folder = out_dir if out_dir is not None else source.parent
    out = folder / f"{source.stem}{tag}{ext or source.suffix}"
    if source.exists() and same_file_key(out) == same_file_key(source):
        raise CliError(f"refusing to overwrite the input {source}")
    return out


def plan_outputs(
    names: Sequence[str], out_dir: Path | None, tag: str = OUTPUT_SUFFIX, ext: str = ""
) -> list[Planned]:
    """A distinct output per input, none of them an input (see the module docstring)."""
    taken = {same_file_key(Path(n)) for n in names if Path(n).exists()}
    plans = []
    for name in names:
        wanted = output_path(name, out_dir, tag, ext)
        out, number = wanted, 2
        while same_file_key(out) in taken:
            out = wanted.with_name(f"{wanted.stem}-{number}{wanted.suffix}")
            number += 1
        taken.add(same_file_key(out))
        plans.append(Planned(name, out, os.path.lexists(out)))
    return plans


def usable_inputs(names: Sequence[str], say: Callable[[str], None]) -> tuple[list[str], int]:
    """The inputs that exist as files (or the example name) → (those, how many were not);
    each one skipped is reported through ``say``."""
    usable, missing = [], 0
    for name in names:
        path = Path(name)
        if name == EXAMPLE_NAME and not path.exists():
            usable.append(name)
        elif path.is_dir():
            say(f"{name}: is a folder, not a photo (give the photos in it, e.g. {name}/*.jpg)"
                " — skipped")  # fmt: skip
            missing += 1
        elif not path.is_file():
            say(f"{name}: no such file — skipped")
            missing += 1
        else:
            usable.append(name)
    return usable, missing


def prepare_out_dir(out_dir: Path | None) -> None:
    """Create --out-dir if needed; CliError (in words, not an errno) if it cannot be."""
    if out_dir is None:
        return
    if out_dir.exists() and not out_dir.is_dir():
        raise CliError(f"--out-dir {out_dir} is a file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CliError(f"cannot create --out-dir {out_dir}: {err.strerror or err}") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise CliError(f"cannot write into --out-dir {out_dir}: permission denied")
