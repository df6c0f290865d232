"""Latents of inverted faces, kept so that a slider move only re-renders."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict

import numpy as np

from facesmith_server.errors import UnknownHandle


class LatentCache:
    """Thread-safe least-recently-used map from opaque handles to latents [num_ws, dim]."""

    def __init__(self, capacity: int = 512) -> None:
        if capacity < 1:
            raise ValueError("cache capacity must be at least 1")
        self._capacity = capacity
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, latent: np.ndarray) -> str:
        handle = secrets.token_hex(12)
        frozen = np.array(latent, dtype=np.float32)
        frozen.setflags(write=False)
        with self._lock:
            self._items[handle] = frozen
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return handle

    def get(self, handle: str) -> np.ndarray:
        with self._lock:
            latent = self._items.get(handle)
            if latent is None:
                raise UnknownHandle(
                    f"latent handle {handle!r} is unknown or expired; invert the face again"
                )
            self._items.move_to_end(handle)
            return latent

    def discard(self, handle: str) -> None:
        """Forget ``handle`` (nothing happens if it is unknown)."""
        with self._lock:
            self._items.pop(handle, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
