"""Deduplicate problems: exact (same normalised words) and near duplicates (MinHash LSH).

Near duplicates: each text's word `ngram`-shingles are MinHashed (`num_perm` universal hash
functions, vectorised with numpy), the signatures are cut into bands, and only texts that
share a band bucket are compared, so the cost grows with the number of texts, not with its
square. Two texts are near duplicates when their estimated Jaccard similarity of shingles
is at least `threshold`; duplicates are merged transitively and the first text of each group
(in input order) is kept.
"""

from __future__ import annotations

import hashlib
import logging
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from reasoning_distill.data_recipes.text import ngrams, text_key, words

logger = logging.getLogger(__name__)

_PRIME = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64(0xFFFFFFFF)


@dataclass
class DedupeResult:
    """Indices kept, and for every dropped index the index it duplicates and how."""

    keep: list[int]
    dropped: dict[int, tuple[int, str]] = field(default_factory=dict)  # i -> (kept, kind)


def _bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) whose S-curve (1/b)^(1/r) lies closest to `threshold`."""
    best = (1, num_perm)
    err = float("inf")
    for r in range(1, num_perm + 1):
        b = num_perm // r
        if b < 1:
            break
        e = abs((1 / b) ** (1 / r) - threshold)
        if e < err:
            best, err = (b, r), e
    return best


def _shingle_hashes(text: str, n: int) -> np.ndarray:
    w = words(text)
    grams = ngrams(w, min(n, len(w))) if w else [""]
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(g.encode(), digest_size=4).digest(), "little")
            for g in set(grams)
        ),
        dtype=np.uint64,
    )


def minhash(texts: Sequence[str], num_perm: int = 128, ngram: int = 5, seed: int = 1) -> np.ndarray:
    """MinHash signatures, shape (len(texts), num_perm), uint32, of word `ngram`-shingles."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, (1 << 61) - 1, size=num_perm, dtype=np.uint64)
    b = rng.integers(0, (1 << 61) - 1, size=num_perm, dtype=np.uint64)
    # the low 32 bits of each minimum: half the memory (a million texts hold 512 MB, not
    # 1 GB), and two different minima agree there once in 4 billion
    out = np.empty((len(texts), num_perm), dtype=np.uint32)
    for i, text in enumerate(texts):
        h = _shingle_hashes(text, ngram)
        # (a*h + b) mod p on 32-bit shingle hashes stays below 2**64 when a is split in halves
        a_lo, a_hi = a & _MAX32, a >> np.uint64(32)
        x = h[:, None]
        lo = (a_lo * x) % _PRIME
        hi = ((a_hi * x) % _PRIME) * np.uint64(1 << 32) % _PRIME
        out[i] = ((lo + hi + b) % _PRIME).min(axis=0) & _MAX32
    return out


def _buckets(part: np.ndarray) -> Iterator[list[int]]:
    """The rows of `part` (one band of the signatures) that are equal, as lists of row indices
    in ascending order, for every value held by more than one row: a sort of the rows, not a
    dictionary of a million byte strings."""
    if not len(part):
        return
    order = np.lexsort(part.T[::-1])  # stable: equal rows stay in index order
    ranked = part[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (ranked[1:] != ranked[:-1]).any(axis=1)
    starts = np.flatnonzero(new)
    sizes = np.diff(np.append(starts, len(order)))
    for start, size in zip(starts.tolist(), sizes.tolist(), strict=True):
        if size > 1:
            yield order[start : start + size].tolist()


def dedupe(
    texts: Sequence[str],
    *,
    exact: bool = True,
    near: bool = True,
    threshold: float = 0.7,
    num_perm: int = 128,
    ngram: int = 3,
) -> DedupeResult:
    """Which of `texts` to keep: the first of each group of exact or near duplicates."""
    parent = array("q", range(len(texts)))  # 8 bytes a text, not a list of int objects
    how: dict[int, str] = {}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int, kind: str) -> None:
        ri, rj = find(i), find(j)
        if ri == rj:
            return
        lo, hi = min(ri, rj), max(ri, rj)
        parent[hi] = lo
        how.setdefault(hi, kind)

    alive = np.arange(len(texts))
    if exact and len(texts):
        # a 16-byte digest of each normalised text, not the text, in one array
        digests = np.frombuffer(
            b"".join(hashlib.blake2b(text_key(t).encode(), digest_size=16).digest() for t in texts),
            dtype=np.dtype((np.void, 16)),
        )
        _, first, inverse = np.unique(digests, return_index=True, return_inverse=True)
        del digests
        for i in np.flatnonzero(first[inverse] != np.arange(len(texts))).tolist():
            union(int(first[inverse[i]]), i, "exact")
        alive = np.sort(first)
        del first, inverse
    if near and len(alive) > 1:
        alive = alive.tolist()
        sig = minhash([texts[i] for i in alive], num_perm, ngram)
        n_bands, rows = _bands(threshold, num_perm)

        def compare(x: int, y: int) -> None:
            # pairs already merged are skipped: no set of every candidate pair is held (on
            # a million similar problems it would outgrow the signatures themselves)
            if find(alive[x]) != find(alive[y]) and float(np.mean(sig[x] == sig[y])) >= threshold:
                union(alive[x], alive[y], "near")

        for band in range(n_bands):
            for members in _buckets(sig[:, band * rows : (band + 1) * rows]):
                head = members[0]
                for m in members[1:]:
                    compare(head, m)
                # pairs beyond the head: only within small buckets
                for k, x in enumerate(members[1:50]):
                    for y in members[k + 2 : 50]:
                        compare(x, y)
    keep = [i for i in range(len(texts)) if find(i) == i]
    dropped = {i: (find(i), how.get(i, "near")) for i in range(len(texts)) if find(i) != i}
    return DedupeResult(keep, dropped)
