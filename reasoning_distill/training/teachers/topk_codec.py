"""Compact encoding of a teacher's top-k log-probabilities per token (ids, log-probs, tail).

Per token the teacher is kept as k token ids, their log-probabilities and the log of the mass
outside them (one tail bucket). The encoding spends its bits where information is:

- ids are stored as a *set*: sorted ascending and delta-coded. Their order is redundant, since
  it can be recovered from the log-probs, and dropping it saves log2(k!) bits per token (about
  89 bytes at k = 128); the deltas of a sorted set are small numbers that compress well. A
  fixed-width code (DistillKit's, ceil(log2 V) = 18 bits at V = 151,936) spends 288 bytes per
  token at k = 128 on the ids alone.
- log-probs are quantised uniformly in log space (relative precision on every probability):
  `bits` bits per value with a step of `step` nats, clipped at -(2**bits - 1) * step (a
  probability below exp(-25.5) at the default 8 bits / 0.1 nats is stored as that floor).
  `bits=32` keeps float32 values exactly.
- the tail's log-mass is a float32 per token.

The arrays of a whole shard are concatenated, byte planes of the multi-byte integers split
apart (so their mostly-zero high bytes sit together), and compressed with LZMA.
"""

from __future__ import annotations

import lzma
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Codec:
    """How log-probs are quantised (see the module docstring)."""

    bits: int = 8
    step: float = 0.1

    def __post_init__(self) -> None:
        if self.bits not in (4, 6, 8, 10, 12, 16, 32):
            raise ValueError(f"codec bits must be one of 4, 6, 8, 10, 12, 16, 32; got {self.bits}")
        if not self.step > 0:
            raise ValueError(f"codec step must be > 0; got {self.step}")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def floor(self) -> float:
        """The smallest log-prob a quantised value can hold."""
        return -((1 << self.bits) - 1) * self.step


def _shuffle(a: np.ndarray) -> bytes:
    """Byte planes of a little-endian integer array, most significant last (compresses well)."""
    b = np.ascontiguousarray(a).view(np.uint8).reshape(-1, a.dtype.itemsize)
    return np.ascontiguousarray(b.T).tobytes()


def _unshuffle(data: bytes, dtype: np.dtype, n: int) -> np.ndarray:
    size = np.dtype(dtype).itemsize
    planes = np.frombuffer(data, dtype=np.uint8, count=n * size).reshape(size, n)
    return np.ascontiguousarray(planes.T).view(dtype).reshape(n)


def quantise(logprobs: np.ndarray, codec: Codec) -> np.ndarray:
    if codec.bits == 32:
        return logprobs.astype(np.float32)
    top = (1 << codec.bits) - 1
    q = np.clip(np.rint(-logprobs.astype(np.float64) / codec.step), 0, top)
    return q.astype(np.uint8 if codec.bits <= 8 else np.uint16)


def dequantise(q: np.ndarray, codec: Codec) -> np.ndarray:
    if codec.bits == 32:
        return q.astype(np.float32)
    return (-q.astype(np.float32) * np.float32(codec.step)).astype(np.float32)


def encode(ids: np.ndarray, logprobs: np.ndarray, tail: np.ndarray, codec: Codec) -> bytes:
    """Bytes for n tokens: ids (n, k) int, logprobs (n, k) float, tail (n,) float."""
    n, k = ids.shape
    order = np.argsort(ids, axis=1, kind="stable")
    ids_sorted = np.take_along_axis(ids.astype(np.int64), order, axis=1)
    lp_sorted = np.take_along_axis(logprobs, order, axis=1)
    deltas = np.diff(ids_sorted, axis=1, prepend=0).astype(np.uint32)
    q = quantise(lp_sorted, codec)
    parts = [_shuffle(deltas.reshape(-1))]
    parts.append(_shuffle(q.reshape(-1)) if q.dtype.itemsize > 1 else q.tobytes())
    parts.append(_shuffle(tail.astype(np.float32).reshape(-1)))
    return lzma.compress(b"".join(parts), preset=6)


def decode(data: bytes, n: int, k: int, codec: Codec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of `encode`: ids (n, k) int64 (ascending per token), logprobs (n, k) float32,
    tail (n,) float32."""
    raw = lzma.decompress(data)
    m = n * k
    off = 0
    deltas = _unshuffle(raw[off : off + 4 * m], np.uint32, m).reshape(n, k)
    off += 4 * m
    qdtype = np.float32 if codec.bits == 32 else (np.uint8 if codec.bits <= 8 else np.uint16)
    qsize = np.dtype(qdtype).itemsize
    if qsize > 1:
        q = _unshuffle(raw[off : off + qsize * m], qdtype, m)
    else:
        q = np.frombuffer(raw[off : off + m], dtype=np.uint8)
    off += qsize * m
    tail = _unshuffle(raw[off : off + 4 * n], np.float32, n)
    ids = np.cumsum(deltas.astype(np.int64), axis=1)
    return ids, dequantise(q.reshape(n, k), codec), tail
