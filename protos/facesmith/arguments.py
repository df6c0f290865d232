"""The command-line arguments every facesmith command shares, declared once: which server or
pack, the token, the device the models run on and the CPU threads. Argparse only: nothing
heavy is imported here, so every command line (facesmith, facesmith train, facesmith-server)
can use it at parse time."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DEVICES = ("auto", "cpu", "cuda", "mps")  # and cuda:N


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
    """--device: auto (CUDA, then Apple MPS, then the CPU), cpu, cuda, cuda:N or mps."""
    choices = ", ".join(DEVICES)
    p.add_argument("--device", default=default, help=f"{help}: {choices}, cuda:N ({default})")


def add_threads_argument(p: argparse.ArgumentParser, default: int | None = None) -> None:
    shown = "torch's choice" if default is None else str(default)
    p.add_argument(
        "--threads", type=int, default=default, metavar="N", help=f"torch CPU threads ({shown})"
    )
