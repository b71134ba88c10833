"""One shard file of a top-k cache: its byte layout, its checksum, and the errors that name it.

A shard is `MAGIC`, an 8-byte header length, a JSON header (rows, token count, k, blob sizes),
the LZMA blob of positions and the LZMA blob of the top-k arrays (`topk_codec`). Its size and
SHA-256 are recorded in the cache's index (`manifest.json`, key `shards`) *before* the shard is
renamed into place, so a shard on disk is either listed with the digest it was written with or
was not written by this cache. A truncated or altered shard is found by its size (when the
cache is opened) or its digest (when it is decoded, or by `verify`), and is reported as a
`DamagedShard` naming the file; `repair`, run before a resume, removes such shards (naming
each in a warning) so that their sequences are scored again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reasoning_distill import atomic
from reasoning_distill.errors import InputError
from reasoning_distill.training.teachers import topk_codec
from reasoning_distill.training.teachers.local import TopK

logger = logging.getLogger(__name__)

MAGIC = b"RDTOPK1\n"
INDEXED_VERSION = 2  # the cache manifest version that carries the index
SUFFIX = ".topk"
_CHUNK = 1 << 22


class DamagedShard(InputError):
    """A shard file that is missing, truncated, altered or not a shard at all."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"{path}: damaged top-k cache shard ({reason}); run the same `rdistill train "
            f"cache` command again to rebuild it"
        )
        self.path, self.reason = Path(path), reason


@dataclass(frozen=True)
class ShardEntry:
    """What the index records about one shard."""

    sha256: str
    bytes: int

    def to_dict(self) -> dict:
        return {"sha256": self.sha256, "bytes": self.bytes}

    @classmethod
    def from_dict(cls, d: object) -> ShardEntry:
        if not (isinstance(d, dict) and isinstance(d.get("sha256"), str)):
            raise ValueError(f"not a shard entry: {d!r}")
        return cls(d["sha256"], int(d["bytes"]))


def _shuffle_u32(a: np.ndarray) -> bytes:
    import lzma

    return lzma.compress(topk_codec._shuffle(a.astype(np.uint32)), preset=6)


def shard_bytes(rows: list[tuple[str, int, np.ndarray, TopK]], codec: topk_codec.Codec) -> bytes:
    """The whole file for `rows` (see the module docstring)."""
    positions = np.concatenate([r[2] for r in rows]).astype(np.uint32)
    ids = np.concatenate([r[3].ids for r in rows])
    lps = np.concatenate([r[3].logprobs for r in rows])
    tail = np.concatenate([r[3].tail for r in rows])
    pos_blob = _shuffle_u32(positions)
    topk_blob = topk_codec.encode(ids, lps, tail, codec)
    header = {
        "rows": [[key, int(length), int(len(pos))] for key, length, pos, _ in rows],
        "n_tokens": int(len(positions)),
        "k": int(ids.shape[1]),
        "positions_bytes": len(pos_blob),
        "topk_bytes": len(topk_blob),
    }
    head = json.dumps(header).encode()
    return MAGIC + struct.pack("<Q", len(head)) + head + pos_blob + topk_blob


def write_aside(path: Path, data: bytes) -> tuple[Path, ShardEntry]:
    """Write `data` to a temporary sibling of `path` (fsynced); `atomic.publish` renames it
    in. The caller records the returned entry in the index between the two steps."""
    return atomic.write_aside(path, data), ShardEntry(hashlib.sha256(data).hexdigest(), len(data))


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def check_entry(path: Path, entry: ShardEntry | None, full: bool) -> None:
    """Raise `DamagedShard` when `path` is missing, of another size than its index entry, or
    (with `full`) of another SHA-256. Without an entry (a cache from before the index) only
    the header is checked here; its blobs are checked as they decode."""
    if not path.is_file():
        raise DamagedShard(path, "missing")
    if entry is not None:
        size = path.stat().st_size
        if size != entry.bytes:
            what = "truncated" if size < entry.bytes else "grown"
            raise DamagedShard(path, f"{what}: {size} bytes, the index records {entry.bytes}")
        if full and file_digest(path) != entry.sha256:
            raise DamagedShard(path, "its SHA-256 differs from the index's")
    read_header(path)


def read_header(path: Path) -> tuple[dict, int]:
    """(header, offset of the first blob), or `DamagedShard`."""
    try:
        with path.open("rb") as f:
            magic = f.read(len(MAGIC))
            if magic != MAGIC:
                raise DamagedShard(path, "not a top-k cache shard: bad magic")
            raw = f.read(8)
            if len(raw) < 8:
                raise DamagedShard(path, "truncated inside its header")
            (n,) = struct.unpack("<Q", raw)
            head = f.read(n)
            size = os.fstat(f.fileno()).st_size
        if len(head) < n:
            raise DamagedShard(path, "truncated inside its header")
        header = json.loads(head)
        rows, need = header["rows"], header["positions_bytes"] + header["topk_bytes"]
        if not isinstance(rows, list) or sum(int(r[2]) for r in rows) != header["n_tokens"]:
            raise DamagedShard(path, "its header does not add up")
    except DamagedShard:
        raise
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise DamagedShard(path, f"unreadable header: {type(e).__name__}") from None
    offset = len(MAGIC) + 8 + n
    if size < offset + need:
        raise DamagedShard(path, f"truncated: {size} bytes, its header needs {offset + need}")
    return header, offset


def decode(
    path: Path, header: dict, offset: int, codec: topk_codec.Codec, entry: ShardEntry | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(positions int64, ids, logprobs, tail) of a shard, checked against its index entry."""
    import lzma

    data = path.read_bytes()
    if entry is not None:
        if len(data) != entry.bytes:
            raise DamagedShard(path, f"{len(data)} bytes, the index records {entry.bytes}")
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            raise DamagedShard(path, "its SHA-256 differs from the index's")
    a = offset + header["positions_bytes"]
    n = header["n_tokens"]
    try:
        positions = topk_codec._unshuffle(lzma.decompress(data[offset:a]), np.uint32, n)
        ids, lps, tail = topk_codec.decode(
            data[a : a + header["topk_bytes"]], n, header["k"], codec
        )
    except (lzma.LZMAError, ValueError, EOFError) as e:
        raise DamagedShard(path, f"does not decode: {e}") from None
    return positions.astype(np.int64), ids, lps, tail


def load_index(manifest: dict | None) -> dict[str, ShardEntry] | None:
    """name -> entry, or None for a cache from before the index (version 1)."""
    if manifest is None or "shards" not in manifest:
        return None
    shards = manifest["shards"]
    try:
        return {str(n): ShardEntry.from_dict(e) for n, e in shards.items()}
    except (AttributeError, ValueError, TypeError, KeyError) as e:
        raise InputError(f"manifest.json: its shard index is malformed ({e})") from None


def shard_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"shard-*{SUFFIX}"))


def repair(folder: Path, manifest: dict, codec: topk_codec.Codec) -> list[str]:
    """Check every shard before a resume; remove the damaged ones (their sequences are scored
    again) and index a version-1 cache's shards, updating `manifest` (the caller writes it).
    Returns the names of the removed shards."""
    index = load_index(manifest)
    removed: list[str] = []
    on_disk = {p.name for p in shard_files(folder)}
    if index is None:  # before the index: decode every shard once, then record its digest
        index = {}
        for name in sorted(on_disk):
            path = folder / name
            try:
                header, offset = read_header(path)
                decode(path, header, offset, codec, None)
            except DamagedShard as e:
                logger.warning(
                    "%s: damaged (%s); removed, its sequences are scored again", path, e.reason
                )
                path.unlink()
                removed.append(name)
                continue
            index[name] = ShardEntry(file_digest(path), path.stat().st_size)
    else:
        foreign = sorted(on_disk - index.keys())
        if foreign:
            raise InputError(
                f"{folder / foreign[0]}: a shard this cache's index does not list (copied in "
                f"from elsewhere?); move it out of the folder and run again"
            )
        for name, entry in list(index.items()):
            path = folder / name
            if not path.exists():  # listed before its rename: the writer was stopped
                logger.info("%s: was being written when a run stopped; scored again", path)
                del index[name]
                continue
            try:
                check_entry(path, entry, full=True)
            except DamagedShard as e:
                logger.warning(
                    "%s: damaged (%s); removed, its sequences are scored again", path, e.reason
                )
                path.unlink()
                del index[name]
                removed.append(name)
    manifest["shards"] = {n: e.to_dict() for n, e in sorted(index.items())}
    manifest["version"] = INDEXED_VERSION
    return removed
