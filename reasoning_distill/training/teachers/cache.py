"""The teacher's top-k log-probs over a dataset, computed once and stored, so the distillation
stage can train without the teacher in memory.

Layout of a cache folder::

    manifest.json            what the cache holds: teacher, k, temperature, codec, tokenizer
                             hash, and the index: each shard's size and SHA-256
    shard-<pid>-<seq>.topk   a batch of sequences: a JSON header, then the compressed arrays
                             (`cache_shard`)

Each sequence is keyed by a hash of its token ids, not by its row number, so a trainer that
shuffles, filters or packs rows still finds every row's teacher (a row-index key silently
misaligns under shuffling). Only the positions that train (the assistant tokens, after the
next-token shift) are stored. Shards are written whole to a temporary name, listed in the
index, and renamed into place: a killed build leaves complete shards plus, at most, a
temporary that the next run removes, and a resumed build skips the sequences already stored.
A resume checks every shard's digest first: a truncated or altered shard is named in a
warning, removed and its sequences scored again; training refuses it by name (exit 2) instead
of failing inside LZMA. Reopening a folder with a different teacher, k, temperature, codec,
tokenizer or max_length is refused field by field; a folder without this module's manifest is
never written into.

Error of the approximation: the loss against a cache compares the (k + 1)-bucket distributions
(see `topk_distillation_loss`); `benchmarks/bench_topk_cache.py` measures it against the full-
vocabulary loss, together with the bytes per token. By the log-sum inequality the bucketed
divergence of exact log-probs is never above the full one. Measured on the toy teacher (V =
432) with its trained student at k = 8 / 32 / 128, 8-bit codec: forward KL within 1% (gradient
cosine >= 0.9999); reverse KL low by 11 / 7 / 5% (gradient cosine 0.982 / 0.989 / 0.992), since
one bucket hides where the student's mass outside the k tokens sits. With k = vocabulary size
both are exact.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reasoning_distill.atomic import atomic_write_json, clean_stale_temporaries, publish
from reasoning_distill.errors import ConfigError, InputError, OutputError
from reasoning_distill.training.teachers import cache_shard, topk_codec
from reasoning_distill.training.teachers.local import TopK, TopKTeacher

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
KIND = "rdistill-teacher-topk-cache"
VERSION = cache_shard.INDEXED_VERSION  # 2: the manifest indexes each shard's size and SHA-256
_SHARD_SUFFIX = cache_shard.SUFFIX
_LOCK = ".lock"


def sequence_key(input_ids: Sequence[int]) -> str:
    """The cache key of a token sequence: a hash of its ids (order and length included)."""
    return hashlib.sha1(np.asarray(input_ids, dtype=np.int64).tobytes()).hexdigest()[:24]


def tokenizer_fingerprint(tokenizer, template: str | None = None) -> str:
    """A hash of the vocabulary and the chat template rows are tokenised with (`template`, the
    training template, or the tokenizer's own): a cache is valid for one tokenisation, so a
    student whose tokenizer keeps its inference template matches a cache built with the
    training variant the trainer swaps in."""
    from reasoning_distill.training.templates import template_fingerprint

    return template_fingerprint(tokenizer, template)


def tokenize_messages(
    tokenizer, messages: list[dict], max_length: int | None, template: str | None = None
) -> tuple:
    """(input_ids, trained positions) as the trainer tokenises a `messages` row with
    `template` (the training template; None: the tokenizer's own).

    Positions are t with the token t + 1 in an assistant turn: the rows of the next-token
    distributions that the loss reads.
    """
    enc = tokenizer.apply_chat_template(
        messages,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
        chat_template=template,
    )
    ids = list(enc["input_ids"])
    mask = list(enc["assistant_masks"])
    if max_length is not None:
        ids, mask = ids[:max_length], mask[:max_length]
    positions = [t for t in range(len(ids) - 1) if mask[t + 1]]
    return ids, positions


@dataclass
class CacheSummary:
    folder: Path
    sequences: int
    tokens: int
    bytes: int
    skipped: int  # sequences already stored (resume) or duplicates
    rebuilt: list[str] = field(default_factory=list)  # damaged shards removed on resume

    @property
    def bytes_per_token(self) -> float:
        return self.bytes / max(self.tokens, 1)


# identity key -> the `rdistill train cache` option that sets it (for refusal messages)
_FLAGS = {
    "teacher": "--teacher / --teacher_url --teacher_name",
    "k": "--top_k",
    "temperature": "--temperature",
    "codec": "--bits / --step",
    "tokenizer": "--tokenizer",
    "max_length": "--max_length",
}


def cache_identity(
    teacher_name: str,
    k: int,
    temperature: float,
    codec: topk_codec.Codec,
    tokenizer,
    max_length,
    template: str | None = None,
) -> dict[str, Any]:
    """What a cache's contents depend on: a folder is resumed only with the same identity."""
    return {
        "teacher": str(teacher_name),
        "k": int(k),
        "temperature": float(temperature),
        "codec": codec.to_dict(),
        "tokenizer": tokenizer_fingerprint(tokenizer, template),
        "max_length": max_length,
    }


def _read_manifest(folder: Path, error: type[Exception]) -> dict | None:
    """The folder's manifest, None when it has none; `error` when it is not a cache's."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise error(f"{path}: not JSON ({e}); not a top-k cache's manifest") from None
    if not isinstance(stored, dict) or stored.get("kind") != KIND:
        raise error(f"{path}: not a top-k cache's manifest (no kind {KIND!r})")
    if not isinstance(stored.get("identity"), dict):
        raise error(f"{path}: a top-k cache manifest without its identity")
    return stored


def claim_folder(folder: str | Path, identity: dict[str, Any], create: bool = True) -> dict:
    """The manifest of the cache in `folder`, created when the folder is new or empty (with
    `create`; without, the checks alone, writing nothing).

    A folder is taken only when its manifest (which only this module writes) says it is a
    top-k cache; changed settings are refused field by field. Nothing is written otherwise.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: exists and is not a folder; choose another --output_dir")
    untouched = "it is left untouched: choose a new or empty folder"
    stored = _read_manifest(folder, lambda m: OutputError(f"{m}; {untouched}"))
    if stored is not None:
        differ = sorted(
            k for k in identity.keys() | stored["identity"].keys()
            if identity.get(k) != stored["identity"].get(k)
        )  # fmt: skip
        if differ:
            details = "; ".join(
                f"{k} ({_FLAGS.get(k, k)}): stored {stored['identity'].get(k)!r}, asked "
                f"{identity.get(k)!r}"
                for k in differ
            )
            raise ConfigError(
                f"{folder}: the cache was built with other settings: {details}; use another "
                f"folder, or the same settings to resume"
            )
        return stored
    if folder.exists() and any(p for p in folder.iterdir() if not p.name.startswith(".")):
        raise OutputError(
            f"{folder}: folder exists, is not empty and is not a top-k cache (no {MANIFEST}); "
            f"{untouched}"
        )
    manifest = {"kind": KIND, "version": VERSION, "identity": identity, "shards": {}}
    if create:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / MANIFEST, manifest)
    return manifest


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """One writer per cache folder: a second build would lose the first one's index entries."""
    import fcntl

    with open(folder / _LOCK, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(
                f"{folder}: another `rdistill train cache` is writing this cache; wait for it "
                f"to finish (or stop it) and run again"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def check_messages(messages: Any, i: int) -> None:
    """Refuse a row whose `messages` is not a list of {role, content} objects, naming it."""
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise InputError(f"row {i}: 'messages' must be a list of {{role, content}} objects")


def check_rows(dataset: Any) -> None:
    """Every row's `messages` shape, before a folder is created or a model loads."""
    columns = list(getattr(dataset, "column_names", None) or [])
    if columns and "messages" not in columns:
        raise InputError(f"the dataset has no 'messages' column (columns: {sorted(columns)})")
    for i, messages in enumerate(dataset["messages"] if columns else []):
        check_messages(messages, i)


def _encode_row(
    tokenizer, row: Any, i: int, max_length: int | None, template: str | None = None
) -> tuple:
    if not isinstance(row, dict) or "messages" not in row:
        cols = sorted(row) if isinstance(row, dict) else type(row).__name__
        raise InputError(f"row {i} has no 'messages' column (columns: {cols})")
    messages = row["messages"]
    check_messages(messages, i)
    try:
        return tokenize_messages(tokenizer, messages, max_length, template)
    except Exception as e:  # the template's own error (jinja, a missing key): name the row
        reason = " ".join(str(e).split())[:300]
        raise InputError(
            f"row {i}: the chat template cannot render its messages ({type(e).__name__}: {reason})"
        ) from None


def build_topk_cache(
    teacher: TopKTeacher,
    tokenizer,
    rows: Iterable[dict],
    folder: str | Path,
    teacher_name: str,
    max_length: int | None = None,
    codec: topk_codec.Codec | None = None,
    shard_sequences: int = 256,
    progress: Any = None,
    chat_template: str | None = None,
) -> CacheSummary:
    """Score every `messages` row with `teacher` and store its top-k at the trained positions.

    Resumable: sequences already in `folder` are skipped, and damaged shards (truncated,
    altered) are removed, named in a warning, and their sequences scored again. `teacher_name`
    (a path or a served model id) is part of the cache's identity, with k, temperature, codec,
    tokenizer and max_length. `chat_template`: the template rows are tokenised with, the
    trainer's (`templates.training_template`); None: the tokenizer's own. Raises `InputError`
    when no row has a token to train (nothing would be cached).
    """
    import os

    codec = codec or topk_codec.Codec()
    folder = Path(folder)
    identity = cache_identity(
        teacher_name, teacher.k, teacher.temperature, codec, tokenizer, max_length, chat_template
    )
    claim_folder(folder, identity)
    with _exclusive(folder):
        manifest = claim_folder(folder, identity)  # again, under the lock
        clean_stale_temporaries(folder)
        summary = CacheSummary(folder, 0, 0, 0, 0)
        summary.rebuilt = cache_shard.repair(folder, manifest, codec)
        atomic_write_json(folder / MANIFEST, manifest)
        _fill(teacher, tokenizer, rows, folder, manifest, codec, max_length, shard_sequences,
              progress, summary, os.getpid(), chat_template)  # fmt: skip
    logger.info(
        "top-k cache %s: %d sequences, %d tokens, %.1f bytes/token (%d skipped, %d damaged "
        "shards rebuilt)",
        folder,
        summary.sequences,
        summary.tokens,
        summary.bytes_per_token,
        summary.skipped,
        len(summary.rebuilt),
    )
    return summary


def _fill(teacher, tokenizer, rows, folder, manifest, codec, max_length, shard_sequences,
          progress, summary: CacheSummary, pid: int,
          template: str | None = None) -> None:  # fmt: skip
    done = set(TopKCache(folder).keys())
    stored_before = len(done)
    pending: list[tuple[str, list[int], np.ndarray]] = []
    seq = 0
    no_positions = 0

    def flush() -> None:
        nonlocal seq
        if not pending:
            return
        scored = teacher.score([ids for _, ids, _ in pending])
        out = []
        for (key, ids, pos), topk in zip(pending, scored, strict=True):
            out.append((key, len(ids), pos, topk.rows(pos)))
        data = cache_shard.shard_bytes(out, codec)
        while (name := f"shard-{pid}-{seq:05d}{_SHARD_SUFFIX}") in manifest["shards"]:
            seq += 1
        path = folder / name
        tmp, entry = cache_shard.write_aside(path, data)
        try:  # listed first: a shard on disk is always in the index
            manifest["shards"][name] = entry.to_dict()
            atomic_write_json(folder / MANIFEST, manifest)
            publish(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        seq += 1
        summary.bytes += entry.bytes
        summary.sequences += len(out)
        summary.tokens += sum(len(p) for _, _, p, _ in out)
        if progress is not None:
            progress(summary)
        pending.clear()

    n_rows = 0
    for i, row in enumerate(rows):
        n_rows += 1
        ids, positions = _encode_row(tokenizer, row, i, max_length, template)
        key = sequence_key(ids)
        if not positions:
            no_positions += 1
        if key in done or not positions:
            summary.skipped += 1
            continue
        done.add(key)
        pending.append((key, ids, np.asarray(positions, dtype=np.int64)))
        if len(pending) >= shard_sequences:
            flush()
    flush()
    if not n_rows and not stored_before:
        raise InputError("the dataset holds no rows; nothing was cached")
    if n_rows and no_positions == n_rows and not stored_before:
        raise InputError(
            f"none of the {n_rows} rows has an assistant token to train under the chat "
            f"template the rows were tokenised with (its assistant mask is empty: does it mark "
            f"assistant turns with {{% generation %}}? pass --chat_template_path); nothing "
            f"was cached"
        )


class TopKCache:
    """Read a cache folder: `lookup(input_ids)` gives the teacher's rows for that sequence.

    Opening checks that every shard the index lists is there, whole (by size), with a
    readable header; a shard's SHA-256 is checked when it is decoded, or by `verify()`. A
    damaged shard raises `DamagedShard` naming it.
    """

    def __init__(self, folder: str | Path, max_decoded_shards: int = 4) -> None:
        self.folder = Path(folder)
        self._index: dict[str, tuple[Path, int, int, int]] = {}  # key -> shard, row, start, n
        self._headers: dict[Path, tuple[dict, int]] = {}
        self._decoded: OrderedDict[Path, tuple] = OrderedDict()
        self._max = max_decoded_shards
        self.manifest = _read_manifest(self.folder, InputError)
        entries = cache_shard.load_index(self.manifest)
        self._entries: dict[Path, cache_shard.ShardEntry | None] = {}
        if entries is None:
            for path in cache_shard.shard_files(self.folder):
                self._entries[path] = None
        else:
            for path in cache_shard.shard_files(self.folder):
                if path.name not in entries:
                    raise InputError(
                        f"{path}: a shard this cache's index does not list (copied in from "
                        f"elsewhere?); move it out of the folder"
                    )
            for name, entry in sorted(entries.items()):
                self._entries[self.folder / name] = entry
        for path, entry in self._entries.items():
            cache_shard.check_entry(path, entry, full=False)
            header, offset = cache_shard.read_header(path)
            self._headers[path] = (header, offset)
            start = 0
            for r, (key, _length, n) in enumerate(header["rows"]):
                self._index.setdefault(key, (path, r, start, n))
                start += n

    @classmethod
    def open(cls, folder: str | Path) -> TopKCache:
        """Open an existing cache, refusing a folder that is not one."""
        folder = Path(folder)
        if not (folder / MANIFEST).is_file():
            raise InputError(f"{folder}: no top-k cache here ({MANIFEST} missing)")
        return cls(folder)

    @property
    def identity(self) -> dict[str, Any]:
        return (self.manifest or {}).get("identity", {})

    def keys(self) -> list[str]:
        return list(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def verify(self) -> None:
        """Check every shard whole: its SHA-256 against the index (a cache from before the
        index: that it decodes). Raises `DamagedShard` naming the first bad one."""
        codec = topk_codec.Codec(**self.identity["codec"])
        for path, entry in self._entries.items():
            if entry is None:
                header, offset = self._headers[path]
                cache_shard.decode(path, header, offset, codec, None)
            else:
                cache_shard.check_entry(path, entry, full=True)

    def _shard(self, path: Path) -> tuple:
        if path in self._decoded:
            self._decoded.move_to_end(path)
            return self._decoded[path]
        header, offset = self._headers[path]
        codec = topk_codec.Codec(**self.identity["codec"])
        self._decoded[path] = cache_shard.decode(path, header, offset, codec, self._entries[path])
        while len(self._decoded) > self._max:
            self._decoded.popitem(last=False)
        return self._decoded[path]

    def lookup(self, input_ids: Sequence[int]) -> tuple[TopK, np.ndarray] | None:
        """(TopK over positions 0..len-2, covered (len-1,) bool) or None when not stored.

        Positions the cache does not hold (prompt tokens) get filler rows and covered False.
        """
        hit = self._index.get(sequence_key(input_ids))
        if hit is None:
            return None
        path, _row, start, n = hit
        positions, ids, lps, tail = self._shard(path)
        k = ids.shape[1]
        length = max(len(input_ids) - 1, 0)
        full = TopK(
            np.tile(np.arange(k, dtype=np.int64), (length, 1)),
            np.zeros((length, k), dtype=np.float32),
            np.zeros(length, dtype=np.float32),
        )
        covered = np.zeros(length, dtype=bool)
        pos = positions[start : start + n]
        full.ids[pos] = ids[start : start + n]
        full.logprobs[pos] = lps[start : start + n]
        full.tail[pos] = tail[start : start + n]
        covered[pos] = True
        return full, covered

    def total_bytes(self) -> int:
        return sum(p.stat().st_size for p in self._headers)

    def total_tokens(self) -> int:
        return sum(h["n_tokens"] for h, _ in self._headers.values())


def check_cache_matches(cache_dir: str | Path, tokenizer, template: str | None = None) -> TopKCache:
    """Open the cache at `cache_dir` for training with `tokenizer` and the training `template`
    (None: the tokenizer's own), or raise a `UserError` naming it: not a cache, built with
    another tokenisation (vocabulary or template as used), a damaged shard (every shard's
    SHA-256 is checked), or no sequences."""
    cache = TopKCache.open(cache_dir)
    stored, ours = cache.identity.get("tokenizer"), tokenizer_fingerprint(tokenizer, template)
    if stored != ours:
        raise InputError(
            f"the teacher cache {cache_dir} was built with another tokenisation than the "
            f"student's training (vocabulary or the chat template the rows were tokenised with; "
            f"fingerprint {stored}, the student's {ours}): rebuild it with `rdistill train "
            f"cache --tokenizer STUDENT` and the same --chat_template_path as the training"
        )
    cache.verify()
    if len(cache) == 0:
        raise InputError(f"the teacher cache {cache_dir} holds no sequences")
    return cache
