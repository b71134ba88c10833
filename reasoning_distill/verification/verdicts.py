"""The one verdict record format, and the keyed, append-only store that holds them.

A verdict record says what a verifier decided about one sample, keyed like the sample
itself by (`problem_id`, `sample_index`). It is what `rdistill verify --samples` writes
beside a generation store's shards, what the dataset build reads, and what the demo keeps::

    {"problem_id": "gsm8k-12", "sample_index": 3, "kind": "math", "correct": false,
     "reason": "wrong_answer", "extracted": "17", "details": {...},
     "verifier": "math+format", "judged": false, "record_version": 1}

- `kind`: the sample's kind ("math", "code"), which chose the verifier;
- `correct`, `reason`, `extracted`, `details`: the `Verdict` (`verifiers/verdict.py`);
  `reason` is "ok" exactly when `correct` is true;
- `verifier`: which checks made it, joined by "+" ("math", "code", "format", "judge");
- `judged`: true when an LLM judge, not a rule-based verifier, decided;
- `made_by` (written by the store, not a field of `VerdictRecord`): in a generation folder,
  the provenance fingerprint of the samples the verdict judged (`reasoning_distill.provenance`).
  Reading checks it against the folder's manifest, so verdicts copied in from another run
  are refused (naming the file and row) instead of being looked up for this run's samples.

Store layout, in a folder (a generation store's, or any)::

    verdicts.jsonl           one record per line, appended and fsynced as verdicts finish
    verdicts.manifest.json   the verifier configuration the records were made with

Crash safety follows the sample store: a line counts only when it ends with a newline (a
torn tail is cut on reopening), a key is written once, one process writes at a time (a lock
file), and reopening with another verifier configuration is refused unless the caller asks
to redo every verdict.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reasoning_distill.atomic import atomic_write_json, fsync_dir
from reasoning_distill.errors import ConfigError, InputError, OutputError
from reasoning_distill.keyset import KeySet
from reasoning_distill.provenance import FIELD as MADE_BY

logger = logging.getLogger(__name__)

RECORD_VERSION = 1
DEFAULT_NAME = "verdicts"

Key = tuple[str, int]


@dataclass
class VerdictRecord:
    """A verifier's decision about one sample (see the module docstring for the fields)."""

    problem_id: str
    sample_index: int
    kind: str
    correct: bool
    reason: str
    extracted: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    verifier: str = ""
    judged: bool = False
    record_version: int = RECORD_VERSION

    @property
    def key(self) -> Key:
        return (self.problem_id, self.sample_index)

    @classmethod
    def of(
        cls, key: Key, kind: str, verdict: Any, verifier: str, judged: bool = False
    ) -> VerdictRecord:
        """The record of `verdict` (a `Verdict`) for the sample `key`."""
        return cls(
            problem_id=key[0],
            sample_index=key[1],
            kind=kind,
            correct=verdict.correct,
            reason=verdict.reason,
            extracted=verdict.extracted,
            details=dict(verdict.details),
            verifier=verifier,
            judged=judged,
        )

    def verdict(self) -> Any:
        from reasoning_distill.verifiers.verdict import Verdict

        return Verdict(self.correct, self.reason, self.extracted, dict(self.details))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any, where: str = "verdict") -> VerdictRecord:
        """Parse a record; `InputError` naming `where` and the field when a value has the
        wrong type (nothing is coerced: "false" is not a boolean)."""
        if not isinstance(d, dict):
            raise InputError(f"{where}: a verdict record must be an object")
        want = {
            "problem_id": str,
            "sample_index": int,
            "kind": str,
            "correct": bool,
            "reason": str,
        }
        for name, typ in want.items():
            if name not in d:
                raise InputError(f"{where}: verdict record lacks field {name!r}")
            value = d[name]
            if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
                raise InputError(
                    f"{where}: field {name!r} must be {typ.__name__}, got "
                    f"{type(value).__name__} {value!r}"
                )
        if d["correct"] != (d["reason"] == "ok"):
            raise InputError(
                f"{where}: correct={d['correct']} contradicts reason={d['reason']!r} "
                "(only 'ok' is correct)"
            )
        extracted, details = d.get("extracted"), d.get("details") or {}
        if extracted is not None and not isinstance(extracted, str):
            raise InputError(f"{where}: field 'extracted' must be a string or null")
        if not isinstance(details, dict):
            raise InputError(f"{where}: field 'details' must be an object")
        judged = d.get("judged", False)
        if not isinstance(judged, bool):
            raise InputError(f"{where}: field 'judged' must be a boolean")
        return cls(
            problem_id=d["problem_id"],
            sample_index=d["sample_index"],
            kind=d["kind"],
            correct=d["correct"],
            reason=d["reason"],
            extracted=extracted,
            details=details,
            verifier=str(d.get("verifier", "")),
            judged=judged,
            record_version=int(d.get("record_version", RECORD_VERSION)),
        )


def _cut_torn_tail(path: Path) -> int:
    """Truncate an unterminated last line (a write cut by a kill); bytes removed."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as f:
        # From the end back to the last newline: the file itself may be large.
        keep = size
        while keep > 0:
            step = min(65536, keep)
            f.seek(keep - step)
            block = f.read(step)
            if keep == size and block.endswith(b"\n"):
                return 0
            i = block.rfind(b"\n")
            if i != -1:
                keep = keep - step + i + 1
                break
            keep -= step
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return size - keep


def _provenance(folder: Path) -> Any:
    """The provenance of the generation folder `folder` (None: not a generation folder)."""
    from reasoning_distill.generation.store import read_provenance

    return read_provenance(folder)


def iter_records(path: str | Path, provenance: Any = None) -> Iterator[VerdictRecord]:
    """Every complete record in a verdicts file (a torn last line is skipped).

    With `provenance` (a `Provenance`), a record that judged another run's sample is a
    `ProvenanceError` naming the file and row.
    """
    path = Path(path)
    # Line by line: a store of a million verdicts is read without holding the file.
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                return  # a torn, uncounted tail
            if line.strip():
                yield _record(line, f"{path}:{lineno}", provenance)


def _record(line: bytes, where: str, provenance: Any) -> VerdictRecord:
    try:
        d = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{where}: not a JSON verdict record ({e})") from None
    rec = VerdictRecord.from_dict(d, where)
    if provenance is not None:
        provenance.check_verdict(d, where)
    return rec


def read_verdicts(folder: str | Path, name: str = DEFAULT_NAME) -> dict[Key, VerdictRecord]:
    """The verdicts stored in `folder`, by key (first record of a key wins); in a generation
    folder, each checked against its manifest's provenance."""
    path = Path(folder) / f"{name}.jsonl"
    if not path.is_file():
        raise InputError(
            f"{path}: no verdicts here; run `rdistill verify --samples {folder}` first"
        )
    out: dict[Key, VerdictRecord] = {}
    for rec in iter_records(path, _provenance(Path(folder))):
        out.setdefault(rec.key, rec)
    return out


def _diff(old: dict, new: dict) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [
        f"{k}: {old.get(k)!r} before, {new.get(k)!r} now" for k in keys if old.get(k) != new.get(k)
    ]


class VerdictStore:
    """Append-only verdicts of one verifier configuration in `folder` (open with `open`)."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.name = name
        self.path = folder / f"{name}.jsonl"
        self.manifest_path = folder / f"{name}.manifest.json"
        self._fh: Any = None
        self._lock_fh: Any = None
        # Digests of the stored keys (16 bytes each): a store of millions of verdicts holds
        # megabytes, not a tuple per key.
        self._done = KeySet()
        self._provenance: Any = None

    @classmethod
    def open(
        cls,
        folder: str | Path,
        config: dict[str, Any],
        *,
        redo: bool = False,
        name: str = DEFAULT_NAME,
        provenance: bool = True,
        redo_hint: str = "rerun with the same options, or add --redo to verify every sample again",
    ) -> VerdictStore:
        """Open (or create) the store for appending under verifier configuration `config`.

        A store made with another configuration is refused (`ConfigError` naming each
        difference and saying what to do: `redo_hint`, which names the caller's flag) unless
        `redo`, which discards our own earlier verdicts and starts over.
        In a generation folder (and `provenance`), every record written carries the folder's
        provenance and every stored one is checked against it (`ProvenanceError`).
        """
        import fcntl

        store = cls(Path(folder), name)
        store.folder.mkdir(parents=True, exist_ok=True)
        store._lock_fh = open(store.folder / f".{name}.lock", "a")  # noqa: SIM115 - held
        try:
            fcntl.flock(store._lock_fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            store._lock_fh.close()
            raise OutputError(
                f"{store.path}: another process is writing verdicts here; wait for it to finish"
            ) from None
        try:
            if provenance:
                store._provenance = _provenance(store.folder)
            store._check_manifest(json.loads(json.dumps(config)), redo, redo_hint)
            if store.path.exists():
                cut = _cut_torn_tail(store.path)
                if cut:
                    logger.warning("%s: removed a torn last line (%d bytes)", store.path, cut)
                store._done = KeySet(r.key for r in iter_records(store.path, store._provenance))
            store._fh = open(store.path, "ab")  # noqa: SIM115 - kept open across appends
            fsync_dir(store.folder)
        except BaseException:
            store.close()
            raise
        return store

    def _check_manifest(self, config: dict[str, Any], redo: bool, redo_hint: str) -> None:
        if self.manifest_path.exists():
            try:
                old = json.loads(self.manifest_path.read_text(encoding="utf-8"))["config"]
            except (json.JSONDecodeError, KeyError, UnicodeDecodeError) as e:
                raise InputError(f"{self.manifest_path}: unreadable ({e})") from None
            if old == config:
                return
            if not redo:
                raise ConfigError(
                    f"{self.path} holds verdicts made with another verifier configuration ("
                    + "; ".join(_diff(old, config))
                    + f"): {redo_hint}"
                )
            logger.warning("verifier configuration changed: redoing every verdict in %s", self.path)
            self.path.unlink(missing_ok=True)  # our own verdicts, named by our manifest
        elif self.path.exists() and self.path.stat().st_size:
            raise OutputError(
                f"{self.path} exists without {self.manifest_path.name}: not ours to extend; "
                "move it away"
            )
        atomic_write_json(
            self.manifest_path,
            {
                "record_version": RECORD_VERSION,
                "config": config,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
            sort_keys=True,
        )

    def done_keys(self) -> set[Key]:
        """The stored keys, read back from the file (the store holds only their digests)."""
        if not len(self._done):
            return set()
        return {r.key for r in iter_records(self.path)}

    def __contains__(self, key: object) -> bool:
        """Whether `key` has a verdict here (without copying the keys, as `done_keys` does)."""
        return key in self._done

    def __len__(self) -> int:
        return len(self._done)

    def append(self, records: Iterable[VerdictRecord]) -> int:
        """Durably write the records whose key has no verdict yet; how many were written."""
        new = [r for r in records if r.key not in self._done]
        if not new:
            return 0
        stamp = {MADE_BY: self._provenance.made_by} if self._provenance is not None else {}
        buf = b"".join(
            json.dumps({**r.to_dict(), **stamp}, ensure_ascii=False, default=str).encode("utf-8")
            + b"\n"
            for r in new
        )
        try:
            self._fh.write(buf)
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as e:
            if e.filename is not None or e.errno is None:
                raise
            raise OSError(e.errno, e.strerror, str(self.path)) from e  # ENOSPC names no file
        self._done.update(r.key for r in new)
        return len(new)

    def close(self) -> None:
        for fh in (self._fh, self._lock_fh):
            if fh is not None:
                with contextlib.suppress(OSError):
                    fh.close()
        self._fh = self._lock_fh = None

    def remove(self) -> None:
        """Delete this store's files (ours): used for a temporary journal once it is spent."""
        self.close()
        for p in (self.path, self.manifest_path, self.folder / f".{self.name}.lock"):
            p.unlink(missing_ok=True)

    def __enter__(self) -> VerdictStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
