"""`facesmith-server`: serve a model pack over gRPC, or write the tiny test pack.

facesmith-server --pack DIR --listen 127.0.0.1:PORT [--device auto] [--token T]
facesmith-server make-test-pack DIR [--seed N] [--resolution R]
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING

from facesmith.arguments import add_device_argument, add_threads_argument, apply_threads, token_of
from facesmith.quality import CHEAP_REFINE_MAX_RESOLUTION, CHEAP_REFINE_STEPS

if TYPE_CHECKING:
    import torch

    from facesmith_server.errors import PackError
    from facesmith_server.service.engine import Engine

DEFAULT_LISTEN = "127.0.0.1:50151"


def _serve_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="facesmith-server",
        description="Serve a facesmith model pack over gRPC. "
        "Also: `facesmith-server make-test-pack DIR` writes the tiny test pack.",
    )
    p.add_argument("--pack", type=Path, required=True, help="model pack folder (with manifest)")
    p.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        help=f"HOST:PORT (default {DEFAULT_LISTEN}; port 0 picks a free one). A non-loopback "
        "host requires --token.",
    )
    add_device_argument(p)
    p.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help="read the shared secret from FILE (its first line); or set FACESMITH_TOKEN",
    )
    p.add_argument(
        "--token",
        help="the shared secret — avoid: other users of this machine can read a command line "
        "(ps, /proc); prefer FACESMITH_TOKEN or --token-file",
    )
    add_threads_argument(p)
    p.add_argument("--max-batch", type=int, default=8, help="faces per forward pass")
    p.add_argument("--max-queue", type=int, default=4, help="jobs before RESOURCE_EXHAUSTED")
    p.add_argument(
        "--slow-reader-s",
        type=float,
        default=30.0,
        metavar="S",
        help="drop a client that leaves a streamed reply unread this long (default 30)",
    )
    p.add_argument(
        "--face-api",
        type=Path,
        default=os.environ.get("FACESMITH_FACE_API") or None,
        metavar="DIR",
        help="face-api's face recognition weights: refinement and pivotal tuning then also "
        "keep the face's identity (default: $FACESMITH_FACE_API; none: pixels only)",
    )
    p.add_argument(
        "--default-refine-steps",
        type=int,
        default=CHEAP_REFINE_STEPS,
        metavar="N",
        help=f"refinement of quality 'default' on packs up to {CHEAP_REFINE_MAX_RESOLUTION} px "
        f"({CHEAP_REFINE_STEPS}; 0 = encoder only)",
    )
    p.add_argument(
        "--stop-when-stdin-closes",
        action="store_true",
        help="exit when stdin ends: a parent that starts its own server (the plugins' runtime) "
        "gives it a pipe, so the server never outlives it, even if it is killed",
    )
    return p


def _test_pack_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="facesmith-server make-test-pack",
        description="Write a pack of tiny random weights in the official file formats.",
    )
    p.add_argument("dir", type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resolution", type=int, default=64)
    return p


def serve(args: argparse.Namespace) -> int:
    from facesmith.memory import retain_freed_memory
    from facesmith_server.devices import choose_device
    from facesmith_server.service.servicer import create_server

    device = choose_device(args.device)
    apply_threads(args)  # several jobs on one machine share its cores
    if device.type == "cpu":
        retain_freed_memory()  # before the gRPC threads exist; see facesmith.memory
    token = _token(args)
    served = _load_engine(args, device)
    server, port = create_server(args.listen, served, token=token, slow_reader_s=args.slow_reader_s)
    host = args.listen.rsplit(":", 1)[0]
    print(f"facesmith-server listening on {host}:{port}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if args.stop_when_stdin_closes:
        threading.Thread(target=_set_at_eof, args=(sys.stdin.buffer, stop), daemon=True).start()
    # Wait in slices: a signal delivered to one of gRPC's threads only sets a flag that the
    # main thread acts on when it next runs, which a wait without timeout never does.
    while not stop.wait(0.5):
        pass
    server.stop(grace=2).wait()
    return 0


def _token(args: argparse.Namespace) -> str | None:
    """--token (with a warning), else the first line of --token-file, else $FACESMITH_TOKEN."""
    if args.token:
        print(
            "facesmith-server: warning: --token is visible to other users of this machine; "
            "use FACESMITH_TOKEN or --token-file",
            file=sys.stderr,
        )
    return token_of(args)


def _set_at_eof(stream: IO[bytes], stop: threading.Event) -> None:
    while stream.read(4096):
        pass
    stop.set()


def _load_engine(args: argparse.Namespace, device: torch.device) -> Engine | PackError:
    """The engine on the pack, or the PackError that stopped it: the server then still runs
    and answers every call with FAILED_PRECONDITION and the reason, so clients can say what
    to fix."""
    from facesmith_server.errors import PackError
    from facesmith_server.model.pack import load_pack
    from facesmith_server.service.engine import Engine

    try:
        pack = load_pack(args.pack, device)
    except PackError as err:
        logging.error("pack not usable: %s", err)
        return err
    identity = None
    if args.face_api is not None:
        from facesmith_server.latent.invert import identity_term
        from facesmith_server.model.identity import load_identity_net

        identity = identity_term(load_identity_net(args.face_api, device))
    engine = Engine(pack, device, max_batch=args.max_batch, max_queue=args.max_queue,
                    default_refine_steps=args.default_refine_steps,
                    identity=identity)  # fmt: skip
    logging.info("pack %s on %s", pack.manifest.name, engine.info.device)
    return engine


def make_test_pack_command(args: argparse.Namespace) -> int:
    from facesmith_server.model.testpack import make_test_pack

    root = make_test_pack(args.dir, seed=args.seed, resolution=args.resolution)
    print(f"wrote test pack to {root}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="facesmith-server: %(message)s")
    from facesmith_server.errors import FacesmithError

    try:
        if argv[:1] == ["make-test-pack"]:
            return make_test_pack_command(_test_pack_parser().parse_args(argv[1:]))
        if argv[:1] == ["serve"]:
            argv = argv[1:]
        return serve(_serve_parser().parse_args(argv))
    except (FacesmithError, ValueError, OSError) as err:
        print(f"facesmith-server: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
