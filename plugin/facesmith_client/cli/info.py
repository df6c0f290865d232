"""`facesmith info`: the server's pack and the edits it offers."""

from __future__ import annotations

import argparse
from typing import Any

from facesmith.arguments import add_server_arguments
from facesmith_client.cli.connect import connect
from facesmith_host.jobs import group_edits


def add_info_parser(commands: Any) -> None:
    p = commands.add_parser("info", help="show the server's pack and the edits it offers")
    add_server_arguments(p)
    p.set_defaults(run=run_info)


def run_info(args: argparse.Namespace) -> int:
    with connect(args) as client:
        info = client.info()
    print(f"pack {info.pack_name} ({info.resolution} px, {info.latent_space}) on {info.device}")
    for group, edits in group_edits(info.edits):
        if group:
            print(f" {group}:")
        for edit in edits:
            print(f"  {edit.name:<18} [{edit.min:g}, {edit.max:g}]  {edit.description}"
                  f"{_absolute(edit)}")  # fmt: skip
    if info.students:
        print(" one-pass (edit --fast):")
        for student in info.students:
            how = "swap" if student.mode == "swap" else f"[{student.min:g}, {student.max:g}]"
            print(f"  {student.edit:<18} {how}  {student.description}")
    if info.sketch:
        print(" faces from line drawings: facesmith sketch DRAWING")
    return 0


def _absolute(edit: Any) -> str:
    """What `--set` (and `--swap-gender`) can do with an edit, if anything."""
    if edit.kind == "binary":
        return "  (--set NAME=0..1, swappable)"
    if edit.kind == "continuous":
        unit = f" {edit.unit}" if edit.unit else ""
        return f"  (--set NAME={edit.target_min:g}..{edit.target_max:g}{unit})"
    return ""
