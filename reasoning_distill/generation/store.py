"""The crash-safe sample store: append-only shards plus a manifest, so a killed job resumes.

Layout of an output folder::

    manifest.json                      what the samples were made with (model, engine, params,
                                       input hash; prompt template and engine dtype beside)
    samples-<writer>-<seq>.jsonl       one Sample per line; each writer session opens a new shard
    samples-<writer>-<seq>.parquet     (format="parquet") one file per appended chunk

Crash-safety rules, which the tests check with a real SIGKILL:
- A JSONL line counts only when it ends with a newline. Each `append` writes whole lines in one
  buffer, flushes and fsyncs, so a kill leaves at most one unterminated last line per shard.
- Reopening a store for writing truncates that torn tail (it was never counted as done), and
  readers skip it, so `done_keys()` and `read()` always agree.
- Parquet shards are written to a temporary name and renamed into place: a file is either whole
  or absent.
- A sample whose key (`problem_id`, `sample_index`) is already stored is never written twice.
- The manifest is written once (atomically); reopening with a different identity is refused,
  since mixing samples made under different settings would silently corrupt a dataset.
- Every record the store writes carries `made_by`, the fingerprint of the manifest's identity
  (`reasoning_distill.provenance`), and every read checks it: a shard copied in from another
  run is refused, naming the shard and row, instead of being verified and trained on.

Several writers (Ray actors) can share one folder: each has its own `writer_id` and therefore
its own shard files; one process holding the folder lock repairs torn tails before they start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from reasoning_distill.atomic import atomic_write_text, clean_stale_temporaries, fsync_dir
from reasoning_distill.errors import ConfigError, InputError, OutputError
from reasoning_distill.jsonl import json_object
from reasoning_distill.keyset import KeySet
from reasoning_distill.provenance import FIELD as MADE_BY
from reasoning_distill.provenance import Provenance, ProvenanceError, fingerprint
from reasoning_distill.records import Sample

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FOLDER_LOCK = ".lock"
_BUSY = "another generation job is writing to this folder"
# 2: the manifest has `provenance` and every record `made_by` (version 1 folders stay readable).
STORE_VERSION = 2
SHARD_RE = re.compile(r"^samples-(?P<writer>[A-Za-z0-9_.]+)-(?P<seq>\d+)\.(?P<ext>jsonl|parquet)$")
# Sample fields that Parquet stores as JSON text: their shape varies from row to row.
_JSON_COLUMNS = ("messages", "sampling", "meta", "gold", "logprobs")
_ARROW_SCALARS = {"str": "string", "int": "int64", "float": "float64", "bool": "bool_"}


class ManifestMismatchError(ConfigError):
    """The folder holds samples made with different settings than the job now asks for."""


class StoreCorruptError(OutputError, ValueError):
    """A shard holds a line that is not a sample (not a torn tail: something edited it)."""


class StoreLockedError(OutputError, RuntimeError):
    """Another live process is writing to this folder (or with this writer id)."""


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Human-readable differences between two JSON values, one line per differing leaf."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new)):
            out += _diff(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    if old != new:
        return [f"  {prefix.rstrip('.')}: {old!r} in the folder, {new!r} now"]
    return []


def _repair_jsonl(path: Path) -> int:
    """Truncate an unterminated last line; return the number of bytes removed."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as f:
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        # Walk back to the last newline; lines are short enough that a few reads suffice.
        pos = size
        while pos > 0:
            step = min(65536, pos)
            f.seek(pos - step)
            block = f.read(step)
            i = block.rfind(b"\n")
            if i != -1:
                pos = pos - step + i + 1
                break
            pos -= step
        f.truncate(pos)
        f.flush()
        os.fsync(f.fileno())
        return size - pos


def _sample_to_row(s: Sample, made_by: str) -> dict[str, Any]:
    d = {**s.to_dict(), MADE_BY: made_by}
    for k in _JSON_COLUMNS:
        if k in d:
            d[k] = json.dumps(d[k], ensure_ascii=False)
    return d


def _parquet_schema() -> Any:
    """One Arrow schema for every Parquet shard, whatever values a chunk happens to hold.

    A schema inferred per chunk would make a chunk whose `reasoning` is all None a `null`
    column and the next one a `string` column: each shard reads alone, but
    `datasets.load_dataset("parquet")` or `pyarrow.dataset` over the folder refuses to
    combine them.
    """
    import dataclasses

    import pyarrow as pa

    fields = []
    for f in dataclasses.fields(Sample):
        # records.py uses postponed annotations, so f.type is text such as "str | None".
        base = str(f.type).removesuffix(" | None")
        if f.name in _JSON_COLUMNS:
            arrow = pa.string()
        elif base in _ARROW_SCALARS:
            arrow = getattr(pa, _ARROW_SCALARS[base])()
        else:
            raise TypeError(
                f"Sample.{f.name} ({f.type}) has no Parquet column type: add it to "
                "_JSON_COLUMNS (stored as JSON text) or _ARROW_SCALARS in store.py"
            )
        fields.append(pa.field(f.name, arrow, nullable=True))
    fields.append(pa.field(MADE_BY, pa.string(), nullable=True))
    return pa.schema(fields)


def _row_to_sample(d: dict[str, Any]) -> Sample:
    for k in _JSON_COLUMNS:
        if isinstance(d.get(k), str):
            d[k] = json.loads(d[k])
    return Sample.from_dict(d)


class Store:
    """An output folder of samples. Open it with `Store.open` to write, or `Store(path)` to read.

    `identity` is what must match for a resume (model, engine, sampling parameters, input
    hash, ...); the store compares it field by field and names each difference.
    """

    def __init__(self, out_dir: str | Path):
        self.path = Path(out_dir)
        self._writer_id: str | None = None
        self._format = "jsonl"
        self._shard_rows = 0
        self._max_shard_rows = 0
        self._fh: Any = None
        self._seq = 0
        self._done: set[tuple[str, int]] | None = None
        self._locks: list[Any] = []
        self._made_by = ""

    # ---- opening -----------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        out_dir: str | Path,
        identity: dict[str, Any],
        *,
        writer_id: str = "0",
        format: str = "jsonl",
        max_shard_rows: int = 100_000,
        folder_lock: bool = True,
        repair: bool = True,
        known_done: set[tuple[str, int]] | None = None,
        record: dict[str, Any] | None = None,
    ) -> Store:
        """Create or reopen `out_dir` for appending.

        `record` is written into a new manifest beside the identity (what the job states but
        a resume need not match: the prompt template, which the input hash covers already,
        and `engine.dtype`, known only once the engine has loaded). Reopening a folder whose
        manifest records another dtype logs a warning naming both.

        `folder_lock` takes an exclusive lock on the whole folder (one job at a time);
        Ray actors pass False and rely on their distinct `writer_id`s, after the driver
        (holding the folder lock) has repaired every shard with `repair=True`.
        `known_done` spares reading the whole folder for deduplication when the caller already
        knows what is stored (an actor given only missing samples passes an empty set).
        """
        if format not in ("jsonl", "parquet"):
            raise ValueError(f"format must be 'jsonl' or 'parquet', got {format!r}")
        if not re.fullmatch(r"[A-Za-z0-9_.]+", writer_id):
            raise ValueError(f"writer_id must match [A-Za-z0-9_.]+, got {writer_id!r}")
        store = cls(out_dir)
        store.path.mkdir(parents=True, exist_ok=True)
        try:
            if folder_lock:
                store._lock(FOLDER_LOCK, _BUSY)
            store._lock(f".lock-{writer_id}", f"another process is writing as writer {writer_id!r}")
            store._check_or_write_manifest(identity, format, record or {})
            if repair:
                store.repair()
        except BaseException:
            store.close()
            raise
        store._writer_id = writer_id
        store._made_by = fingerprint(identity)
        if known_done is not None:
            store._done = set(known_done)
        store._format = format
        store._max_shard_rows = max_shard_rows
        store._seq = 1 + max(
            (
                int(m["seq"])
                for m in map(SHARD_RE.match, os.listdir(store.path))
                if m and m["writer"] == writer_id
            ),
            default=-1,
        )
        return store

    def _lock(self, name: str, what: str) -> None:
        import fcntl

        fh = open(self.path / name, "a")  # noqa: SIM115 - held open for the store's lifetime
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise StoreLockedError(f"{self.path}: {what}") from None
        self._locks.append(fh)

    def _check_or_write_manifest(
        self, identity: dict[str, Any], format: str, record: dict[str, Any]
    ) -> None:
        if check_manifest(self.path, identity, format):
            _warn_other_dtype(self.path, self.manifest(), record)
            return
        if any(SHARD_RE.match(n) for n in os.listdir(self.path)):
            raise ManifestMismatchError(
                f"{self.path} holds sample shards but no {MANIFEST}: cannot tell what made them. "
                "Use a new output folder."
            )
        manifest = {
            **json.loads(json.dumps(record)),
            "store_version": STORE_VERSION,
            "format": format,
            "identity": json.loads(json.dumps(identity)),
            "provenance": fingerprint(identity),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        atomic_write_text(
            self.path / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        )

    # ---- reading -----------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))

    def shards(self) -> list[Path]:
        """Shard files in a stable order (writer, then sequence number)."""
        if not self.path.is_dir():
            return []
        found = []
        for name in os.listdir(self.path):
            m = SHARD_RE.match(name)
            if m:
                found.append((m["writer"], int(m["seq"]), self.path / name))
        return [p for _, _, p in sorted(found)]

    def repair(self) -> int:
        """Truncate torn tails of every JSONL shard; return how many shards were repaired."""
        for stale in self.path.glob(".samples-*.tmp*"):
            # A chunk whose Parquet write was cut short: never renamed, so never counted.
            stale.unlink(missing_ok=True)
        clean_stale_temporaries(self.path)  # e.g. a manifest write cut short by a kill
        n = 0
        for p in self.shards():
            if p.suffix == ".jsonl":
                cut = _repair_jsonl(p)
                if cut:
                    n += 1
                    logger.warning(
                        "%s: removed a torn last line (%d bytes) left by a crash", p, cut
                    )
        return n

    def provenance(self) -> Provenance | None:
        """What every record here must have been made by (None: no manifest yet)."""
        return read_provenance(self.path)

    def _iter_rows(self) -> Iterator[dict[str, Any]]:
        """Every complete row, each checked against the manifest's provenance (its `made_by`
        dropped): a row another run made is a `ProvenanceError` naming the shard and row."""
        prov = self.provenance()
        for where, row in self._iter_raw_rows():
            if prov is not None:
                if self._is_parquet_row(row) and isinstance(row.get("sampling"), str):
                    sampling = json.loads(row["sampling"])
                    prov.check_sample({**row, "sampling": sampling}, where)
                else:
                    prov.check_sample(row, where)
            row.pop(MADE_BY, None)
            yield row

    def _iter_raw_rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        # Row by row (a batch for Parquet): a shard of 100k long traces is gigabytes, and a
        # reader holds only the rows in flight, whatever the store's size.
        for p in self.shards():
            if p.suffix == ".parquet":
                import pyarrow.parquet as pq

                i = 0
                for batch in pq.ParquetFile(p).iter_batches(batch_size=256):
                    for row in batch.to_pylist():
                        i += 1
                        yield f"{p} row {i}", row
                continue
            with open(p, "rb") as f:
                for lineno, line in enumerate(f, 1):
                    if not line.endswith(b"\n"):
                        break  # a torn, uncounted tail
                    if line.strip():
                        where = f"{p}:{lineno}"
                        yield where, json_object(line, where, StoreCorruptError)

    def read(self) -> Iterator[Sample]:
        """Every stored sample, shard by shard (first copy wins if a key was ever duplicated).

        The keys seen are held as 16-byte digests (`KeySet`), so a reader of millions of
        traces holds megabytes of keys, not a tuple per trace."""
        seen = KeySet()
        for row in self._iter_rows():
            s = _row_to_sample(row) if self._is_parquet_row(row) else Sample.from_dict(row)
            if seen.add(s.key):
                yield s

    @staticmethod
    def _is_parquet_row(row: dict[str, Any]) -> bool:
        return isinstance(row.get("messages"), str)

    def done_keys(self) -> set[tuple[str, int]]:
        """(`problem_id`, `sample_index`) of every sample already stored."""
        if self._done is None:
            self._done = {(str(r["problem_id"]), int(r["sample_index"])) for r in self._iter_rows()}
        return set(self._done)

    # ---- writing -----------------------------------------------------------------------
    def append(self, samples: Iterable[Sample]) -> int:
        """Durably write the samples not stored yet; return how many were written."""
        if self._writer_id is None:
            raise RuntimeError("store opened read-only: use Store.open(...) to append")
        done = self._done if self._done is not None else self._load_done()
        new = []
        for s in samples:
            if s.key not in done:
                done.add(s.key)
                new.append(s)
        if not new:
            return 0
        try:
            if self._format == "parquet":
                self._append_parquet(new)
            else:
                self._append_jsonl(new)
        except OSError as e:
            # Part of the batch may be on disk: never write it again in this session (a rerun
            # reads what is there, after cutting a torn last line), and start a new shard.
            with contextlib.suppress(OSError):
                self._close_fh()
            self._fh = None
            if e.filename is None and e.errno is not None:  # a full disk names no file
                raise OSError(e.errno, e.strerror, str(self.path)) from e
            raise
        return len(new)

    def _load_done(self) -> set[tuple[str, int]]:
        self.done_keys()
        assert self._done is not None
        return self._done

    def _shard_path(self, ext: str) -> Path:
        return self.path / f"samples-{self._writer_id}-{self._seq:05d}.{ext}"

    def _append_jsonl(self, samples: list[Sample]) -> None:
        if self._fh is None or self._shard_rows >= self._max_shard_rows:
            self._close_fh()
            path = self._shard_path("jsonl")
            self._seq += 1
            self._fh = open(path, "ab")  # noqa: SIM115 - kept open across appends
            self._shard_rows = 0
            fsync_dir(self.path)
        buf = b"".join(
            json.dumps({**s.to_dict(), MADE_BY: self._made_by}, ensure_ascii=False).encode("utf-8")
            + b"\n"
            for s in samples
        )
        self._fh.write(buf)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._shard_rows += len(samples)

    def _append_parquet(self, samples: list[Sample]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self._shard_path("parquet")
        self._seq += 1
        tmp = path.with_name(f".{path.name}.tmp")
        table = pa.Table.from_pylist(
            [_sample_to_row(s, self._made_by) for s in samples], schema=_parquet_schema()
        )
        try:
            pq.write_table(table, tmp)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)  # our own half-written chunk: free the disk it holds
            raise
        fsync_dir(self.path)

    def _close_fh(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def close(self) -> None:
        self._close_fh()
        for fh in self._locks:
            fh.close()
        self._locks = []

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _warn_other_dtype(path: Path, manifest: dict[str, Any], record: dict[str, Any]) -> None:
    """Samples of another precision are not refused (eval reuses its folders whatever the
    dtype), but the manifest only speaks for the dtype it records: say so."""
    was = (manifest.get("engine") or {}).get("dtype")
    now = (record.get("engine") or {}).get("dtype")
    if was and now and was != now:
        logger.warning(
            "%s: its samples so far were made in %s (its manifest says so); this run samples "
            "in %s. Pass --dtype %s to keep the folder in one precision.",
            path,
            was,
            now,
            was,
        )


def check_manifest(out_dir: str | Path, identity: dict[str, Any], format: str) -> bool:
    """Whether `out_dir` already has a manifest; `ManifestMismatchError` if it differs.

    Callers check before loading a model, so a resume with other settings is refused at once.
    """
    mpath = Path(out_dir) / MANIFEST
    if not mpath.exists():
        return False
    identity = json.loads(json.dumps(identity))  # normalise tuples etc. as JSON sees them
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise StoreCorruptError(f"{mpath}: not valid JSON ({e})") from None
    diffs = _diff(manifest.get("identity", {}), identity)
    if manifest.get("format", "jsonl") != format:
        diffs.append(f"  format: {manifest.get('format')!r} in the folder, {format!r} now")
    if diffs:
        raise ManifestMismatchError(
            f"{out_dir} already holds samples made with different settings:\n"
            + "\n".join(diffs)
            + "\nResuming would mix them. Rerun with the original settings, or write to "
            "a new output folder."
        )
    return True


def check_unlocked(out_dir: str | Path) -> None:
    """Raise `StoreLockedError` if a live job holds `out_dir`'s folder lock right now.

    A probe before the model loads; `Store.open` takes the lock itself (the only guarantee).
    """
    import fcntl

    lock = Path(out_dir) / FOLDER_LOCK
    if not lock.is_file():
        return
    with open(lock, "a") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreLockedError(f"{out_dir}: {_BUSY}") from None


def stored_format(out_dir: str | Path) -> str | None:
    """The shard format ("jsonl" or "parquet") an existing output folder was made with.

    None when the folder holds no manifest yet. Lets a caller refuse a format switch before
    it spends minutes loading a model (`Store.open` refuses it too, but only once called).
    """
    mpath = Path(out_dir) / MANIFEST
    if not mpath.exists():
        return None
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise StoreCorruptError(f"{mpath}: not valid JSON ({e})") from None
    return str(manifest.get("format", "jsonl"))


def read_provenance(out_dir: str | Path) -> Provenance | None:
    """The provenance of the generation folder `out_dir` (None: it has no manifest)."""
    mpath = Path(out_dir) / MANIFEST
    if not mpath.is_file():
        return None
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise StoreCorruptError(f"{mpath}: not valid JSON ({e})") from None
    if not isinstance(manifest, dict):
        raise ProvenanceError(f"{mpath}: not a generation manifest (not an object)")
    return Provenance.of_manifest(manifest, str(mpath))


def load_samples(out_dir: str | Path) -> list[Sample]:
    """All samples in an output folder, in shard order."""
    path = Path(out_dir)
    if not (path / MANIFEST).exists():
        raise InputError(f"{path}: no {MANIFEST}; not a generation output folder")
    return list(Store(path).read())
