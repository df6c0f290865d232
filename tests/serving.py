"""A real facesmith server in the test process, on any pack (no refinement by default: fast)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def serve(pack: Path) -> tuple[Any, str]:
    """Start a server on ``pack`` at a free loopback port → (grpc server, its address); stop it
    with ``server.stop(grace=None)``."""
    import torch

    from facesmith_server.model.pack import load_pack
    from facesmith_server.service.engine import Engine
    from facesmith_server.service.servicer import create_server

    device = torch.device("cpu")
    engine = Engine(load_pack(pack, device), device, default_refine_steps=0)
    server, port = create_server("127.0.0.1:0", engine)
    return server, f"127.0.0.1:{port}"
