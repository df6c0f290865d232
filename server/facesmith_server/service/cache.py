"""Latents of inverted faces, kept so that a slider move only re-renders."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from typing import Generic, TypeVar

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


T = TypeVar("T")


class PivotCache(Generic[T]):
    """Thread-safe least-recently-used map from latent handles to what pivotal tuning made for
    them (a tuned generator), bounded by total bytes; a miss is not an error (the pack's own
    generator is used)."""

    def __init__(self, capacity_bytes: int) -> None:
        self._capacity = capacity_bytes
        self._items: OrderedDict[str, tuple[T, int]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, handle: str, item: T, size_bytes: int) -> None:
        with self._lock:
            self._items[handle] = (item, size_bytes)
            while len(self._items) > 1 and self._total() > self._capacity:
                self._items.popitem(last=False)

    def get(self, handle: str) -> T | None:
        with self._lock:
            found = self._items.get(handle)
            if found is None:
                return None
            self._items.move_to_end(handle)
            return found[0]

    def _total(self) -> int:
        return sum(size for _, size in self._items.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
