"""The one worker link this Krita session shares (menu actions and the docker alike).

The config file is read again on every use, so re-running the installer takes effect without
restarting Krita; the worker process itself starts on the first request.
"""

from __future__ import annotations

from facesmith_host.config import load_config, worker_command
from facesmith_host.link import WorkerLink

_link: WorkerLink | None = None


def shared_link() -> WorkerLink:
    """The session's link (RuntimeNotInstalled, a WorkerError, if facesmith is not set up)."""
    global _link
    argv, env = worker_command(load_config())
    if _link is not None and (_link.argv, _link.env) != (argv, env):
        _link.close()  # the installer recorded another runtime or server
        _link = None
    if _link is None:
        _link = WorkerLink(argv, env)
    return _link


def cancel_all() -> None:
    if _link is not None:
        _link.cancel_all()


def close() -> None:
    """Stop the worker (Krita is quitting)."""
    global _link
    if _link is not None:
        _link.close()
        _link = None
