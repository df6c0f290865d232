"""What the commands that talk to a server share: the connection (a running server or a local
one for the run), one-line errors, and which client errors end a whole run."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from facesmith_client.remote.client import ClientError, FacesmithClient


class CliError(Exception):
    """A failure to report as one line, without a traceback."""


def status(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def connect(args: argparse.Namespace) -> Iterator[FacesmithClient]:
    """A client for --server, or for a local server started for this run (stopped after)."""
    from facesmith.arguments import token_of
    from facesmith_client.remote.grpc_client import GrpcClient

    if args.server:
        if getattr(args, "token", None):
            status(
                "facesmith: warning: --token is visible to other users of this machine; "
                "use FACESMITH_TOKEN or --token-file"
            )
        with GrpcClient(args.server, token=token_of(args)) as client:
            yield client
        return
    from facesmith_client.remote.local_server import LocalServer, default_pack_dir

    pack = args.pack if args.pack is not None else default_pack_dir()
    status(f"starting a local facesmith server on {pack} …")
    with LocalServer(pack, device=args.device) as server, GrpcClient(server.address) as client:
        yield client


def skip_or_raise(name: str, err: ValueError | ClientError) -> None:
    """Say that one photo is skipped, unless the error ends the whole run."""
    from facesmith_client.remote.client import ClientError

    if isinstance(err, ClientError) and err.ends_the_run:
        raise err
    status(f"{name}: {err} — skipped")
