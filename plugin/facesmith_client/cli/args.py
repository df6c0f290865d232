"""The command-line arguments several commands share: which server or pack, the token, the
device and the CPU threads. Argparse only: nothing heavy is imported here."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DEVICES = ("auto", "cpu", "cuda", "mps")


def add_server_arguments(p: argparse.ArgumentParser) -> None:
    """--server / --token / --pack / --device: a running server, or a local one on a pack."""
    p.add_argument(
        "--server",
        metavar="HOST:PORT",
        help="a running facesmith-server (default: start a local one for this run)",
    )
    p.add_argument(
        "--token",
        default=os.environ.get("FACESMITH_TOKEN"),
        help="the server's token (default: $FACESMITH_TOKEN)",
    )
    p.add_argument(
        "--pack",
        type=Path,
        help="model pack of the local server (default: the built-in demo pack)",
    )
    add_device_argument(p, help="device of the local server")


def add_device_argument(
    p: argparse.ArgumentParser, default: str = "auto", help: str = "where the models run"
) -> None:
    p.add_argument("--device", default=default, help=f"{help}: {', '.join(DEVICES)} ({default})")


def add_threads_argument(p: argparse.ArgumentParser, default: int | None = None) -> None:
    shown = "torch's choice" if default is None else str(default)
    p.add_argument("--threads", type=int, default=default, help=f"torch CPU threads ({shown})")
