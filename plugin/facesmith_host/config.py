"""Where the runtime lives: a small JSON file the installer writes and adapters read.

    {"version": 1, "python": "/…/runtime/bin/python", "server": "local", "token": ""}

``server`` is "local" (the runtime starts a server on the default pack when first needed) or
"HOST:PORT" of a running facesmith server; ``token`` is that server's token, if it has one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from facesmith_host.errors import WorkerError
from facesmith_host.link import default_env
from facesmith_host.places import user_config_dir

CONFIG_ENV = "FACESMITH_RUNTIME_CONFIG"
CONFIG_VERSION = 1
REINSTALL = "Run the facesmith installer (installers/install.py) to set up the runtime."


class RuntimeNotInstalled(WorkerError):
    def __init__(self, message: str) -> None:
        super().__init__("not_installed", message, REINSTALL)


@dataclass(frozen=True)
class RuntimeConfig:
    python: str  # the runtime environment's interpreter
    server: str = "local"
    token: str = ""


def config_path() -> Path:
    """$FACESMITH_RUNTIME_CONFIG, else the per-user config folder's facesmith/runtime.json."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    return user_config_dir() / "facesmith" / "runtime.json"


def load_config(path: Path | None = None) -> RuntimeConfig:
    """The recorded runtime; RuntimeNotInstalled saying what is wrong if there is none."""
    path = path or config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RuntimeNotInstalled(f"facesmith is not set up: {path} does not exist") from None
    except (OSError, ValueError) as err:
        raise RuntimeNotInstalled(f"cannot read {path}: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("python"), str):
        raise RuntimeNotInstalled(f"{path} does not name the runtime's python")
    if data.get("version") != CONFIG_VERSION:
        raise RuntimeNotInstalled(f"{path} has version {data.get('version')!r}, not 1")
    return RuntimeConfig(
        python=data["python"],
        server=str(data.get("server") or "local"),
        token=str(data.get("token") or ""),
    )


def save_config(config: RuntimeConfig, path: Path | None = None) -> Path:
    """Write ``config`` (atomically) → the file written."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"version": CONFIG_VERSION, **config.__dict__}
    partial = path.with_name(path.name + ".part")
    partial.unlink(missing_ok=True)  # a stale one may have other permissions
    # Private from the first byte: it may hold the server's token.
    handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(json.dumps(data, indent=2) + "\n")
    os.replace(partial, path)
    return path


def worker_command(config: RuntimeConfig) -> tuple[list[str], dict[str, str]]:
    """(argv, env) that start the runtime worker for ``config``."""
    argv = [config.python, "-m", "facesmith_client.host.worker", "--server", config.server]
    env = default_env()
    if config.token:
        env["FACESMITH_TOKEN"] = config.token
    return argv, env
