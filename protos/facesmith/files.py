"""Small stdlib-only file helpers shared by the server, the host-side runtime and the CLI.

Kept free of torch (and of numpy) so the CLI can use them without importing the heavy modules.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

HASH_CHUNK = 1 << 20

# A pack or direction name: it becomes a folder or file name, so no separators; use fullmatch.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def same_file_key(path: Path) -> str:
    """What decides whether two paths name the same file (links followed, case as the OS
    compares it)."""
    return os.path.normcase(os.path.realpath(path))


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path: Path, payload: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it — an existing
    symbolic link there is replaced, not followed. The new file gets the usual permissions
    (0666 less the umask), not the temporary file's private 0600."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), 0o666 & ~_umask())
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    """The process's umask, read without changing it (os.umask would, for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022
