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
    add_token_arguments(p)
    p.add_argument(
        "--pack",
        type=Path,
        help="model pack of the local server (default: the built-in demo pack)",
    )
    add_device_argument(p, help="device of the local server")


TOKEN_ENV = "FACESMITH_TOKEN"


def add_token_arguments(p: argparse.ArgumentParser) -> None:
    """How the server's token is given: $FACESMITH_TOKEN or --token-file (private), or
    --token (visible to every user of the machine in the process list)."""
    p.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help=f"read the server's token from FILE (its first line); or set ${TOKEN_ENV}",
    )
    p.add_argument(
        "--token",
        help=f"the server's token — avoid: other users of this machine can read a command "
        f"line (ps, /proc); prefer ${TOKEN_ENV} or --token-file",
    )


def token_of(args: argparse.Namespace) -> str | None:
    """The token from --token, --token-file or $FACESMITH_TOKEN (in that order); ValueError
    if the file cannot be read."""
    if getattr(args, "token", None):
        return str(args.token)
    token_file = getattr(args, "token_file", None)
    if token_file is not None:
        try:
            lines = Path(token_file).read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise ValueError(f"cannot read --token-file {token_file}: {err.strerror}") from None
        token = lines[0].strip() if lines else ""
        if not token:
            raise ValueError(f"--token-file {token_file} is empty")
        return token
    return os.environ.get(TOKEN_ENV) or None


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


def add_max_minutes_argument(p: argparse.ArgumentParser) -> None:
    """--max-minutes: a training run's time budget (it saves where it stopped; --resume goes
    on from there)."""
    p.add_argument(
        "--max-minutes", type=float, metavar="M",
        help="stop once this much time is spent, saving the step reached (no limit)",
    )  # fmt: skip


def apply_threads(args: argparse.Namespace) -> None:
    """Cap torch's and OpenCV's CPU threads at --threads when it is given: jobs that share a
    machine's cores run slower than alone when each takes them all."""
    threads = getattr(args, "threads", None)
    if not threads:
        return
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
