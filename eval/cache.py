"""Content-keyed caches: generations by what shaped them, verdicts by sample and verifier.

Generations live in the resumable sample store (`reasoning_distill.generation.store`), one
folder per (model identity, engine, sampling settings), and inside it each prompt is keyed by
a hash of its chat messages, each sample by that key and its index (its seed derives from
both and the base seed). So a rerun with another benchmark version that keeps the prompts, a
larger --limit, or a changed scorer regenerates nothing it already has, and an interrupted
run resumes at the first missing sample.

Verdicts are appended to `verdicts/<verifier version>.jsonl`, keyed by a hash of what the
verifier reads (completion, finish reason, gold, kind): a resume re-verifies nothing, and a
new verifier version re-scores every sample without generating any.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reasoning_distill.records import Problem, Sample

logger = logging.getLogger(__name__)

# The store's input hash: constant, because prompts are keyed one by one instead.
CONTENT_KEYED = "content-keyed-v1"


def prompt_key(problem: Problem, system: str | None = None) -> str:
    """The cache key of a problem's prompt: a hash of the exact messages the model sees."""
    blob = json.dumps(problem.messages(system), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


def generation_folder(root: Path, model_digest: str, engine: str, sampling: dict[str, Any]) -> Path:
    """The store folder for one model identity, engine and sampling settings."""
    key = json.dumps([model_digest, engine, sampling], sort_keys=True).encode()
    return root / hashlib.sha256(key).hexdigest()[:16]


def sample_key(sample: Sample, gold: Any, kind: str) -> str:
    """A hash of everything a verifier reads for one sample."""
    blob = json.dumps(
        [sample.completion, sample.answer, sample.finish_reason, gold, kind],
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


class VerdictCache:
    """Append-only verdicts of one verifier version, keyed by `sample_key`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._verdicts: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            with open(self.path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if not line.endswith("\n"):
                        break  # a torn tail from a killed run: never counted
                    try:
                        row = json.loads(line)
                        self._verdicts[row["key"]] = row["verdict"]
                    except (json.JSONDecodeError, KeyError, TypeError):
                        logger.warning("%s: skipping an unreadable cached verdict", self.path)

    def __len__(self) -> int:
        return len(self._verdicts)

    def get(self, key: str) -> dict[str, Any] | None:
        return self._verdicts.get(key)

    def add(self, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        rows = [(k, v) for k, v in items if k not in self._verdicts]
        if not rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._truncate_torn_tail()
        text = "".join(json.dumps({"key": k, "verdict": v}, default=str) + "\n" for k, v in rows)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        self._verdicts.update(rows)

    def _truncate_torn_tail(self) -> None:
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as f:
            data = f.read()
            if data.endswith(b"\n"):
                return
            f.truncate(data.rfind(b"\n") + 1)
