"""`facesmith info`: the server's pack and the edits it offers."""

from __future__ import annotations

import argparse
from typing import Any

from facesmith_client.cli.args import add_server_arguments
from facesmith_client.cli.connect import connect


def add_info_parser(commands: Any) -> None:
    p = commands.add_parser("info", help="show the server's pack and the edits it offers")
    add_server_arguments(p)
    p.set_defaults(run=run_info)


def run_info(args: argparse.Namespace) -> int:
    with connect(args) as client:
        info = client.info()
    print(f"pack {info.pack_name} ({info.resolution} px, {info.latent_space}) on {info.device}")
    for edit in info.edits:
        print(f"  {edit.name:<12} [{edit.min:g}, {edit.max:g}]  {edit.description}")
    return 0
