"""A compact set of sample keys (`problem_id`, `sample_index`): 16 bytes a key, not ~300.

Readers of a store of millions of traces must remember which keys they have seen (a key
stored twice is read once) and which have a verdict (a rerun skips them). A Python set of
tuples costs a tuple, a string and an int per key; this one keeps a 16-byte BLAKE2b digest of
each key in two sorted `uint64` arrays, plus a small set of the newest digests that is merged
into the arrays when it fills. Two different keys share a digest with probability about
n^2 / 2^129: at a billion keys, under 1e-20.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

# Digests held as Python bytes before a merge into the sorted arrays: bounds that part.
PENDING = 32_768


def digest(key: tuple[str, int]) -> bytes:
    """The 16-byte digest of a key; the index follows the last NUL, so no two keys collide
    by concatenation (an index is an int, without a NUL)."""
    pid, index = key
    raw = f"{pid}\x00{int(index)}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(raw, digest_size=16).digest()


class KeySet:
    """A set of keys supporting `add`, `in` and `len` (no iteration: only digests are kept)."""

    def __init__(self, keys: Iterable[tuple[str, int]] = ()) -> None:
        self._hi = np.empty(0, dtype=np.uint64)
        self._lo = np.empty(0, dtype=np.uint64)
        self._new: set[bytes] = set()
        for key in keys:
            self.add(key)

    def add(self, key: tuple[str, int]) -> bool:
        """Add `key`; whether it was new."""
        d = digest(key)
        if d in self._new or self._in_arrays(d):
            return False
        self._new.add(d)
        if len(self._new) >= PENDING:
            self._merge()
        return True

    def update(self, keys: Iterable[tuple[str, int]]) -> None:
        for key in keys:
            self.add(key)

    def __contains__(self, key: object) -> bool:
        if not (isinstance(key, tuple) and len(key) == 2):
            return False
        d = digest(key)  # type: ignore[arg-type]
        return d in self._new or self._in_arrays(d)

    def __len__(self) -> int:
        return len(self._hi) + len(self._new)

    def __bool__(self) -> bool:
        return len(self) > 0

    def _in_arrays(self, d: bytes) -> bool:
        if not len(self._hi):
            return False
        hi = np.uint64(int.from_bytes(d[:8], "little"))
        lo = int.from_bytes(d[8:], "little")
        i = int(np.searchsorted(self._hi, hi, side="left"))
        while i < len(self._hi) and self._hi[i] == hi:
            if int(self._lo[i]) == lo:
                return True
            i += 1
        return False

    def _merge(self) -> None:
        pairs = np.frombuffer(b"".join(self._new), dtype="<u8").reshape(-1, 2)
        hi = np.concatenate([self._hi, pairs[:, 0].astype(np.uint64)])
        lo = np.concatenate([self._lo, pairs[:, 1].astype(np.uint64)])
        order = np.lexsort((lo, hi))
        self._hi, self._lo = hi[order], lo[order]
        self._new = set()
