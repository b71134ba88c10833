"""Content-keyed caches: generations by what shaped them, verdicts by sample and verifier.

Generations live in the resumable sample store (`reasoning_distill.generation.store`), one
folder per (model identity, engine, sampling settings), and inside it each prompt is keyed by
a hash of its chat messages, each sample by that key and its index (its seed derives from
both and the base seed). So a rerun with another benchmark version that keeps the prompts, a
larger --limit, or a changed scorer regenerates nothing it already has, and an interrupted
run resumes at the first missing sample.

Verdicts are appended beside the samples they judge, to `verdicts-<verifier version>.jsonl`
in the one verdict record format (`reasoning_distill.verification`), keyed like the samples:
a resume re-verifies nothing, and a new verifier version re-scores every sample without
generating any.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from reasoning_distill.records import Problem

logger = logging.getLogger(__name__)

# The store's input hash: constant, because prompts are keyed one by one instead.
CONTENT_KEYED = "content-keyed-v1"


def prompt_key(problem: Problem, system: str | None = None) -> str:
    """The cache key of a problem's prompt: a hash of the exact messages the model sees."""
    blob = json.dumps(problem.messages(system), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


def generation_folder(
    root: Path, model_digest: str, engine: str, model: str, sampling: dict[str, Any]
) -> Path:
    """The store folder for one model identity, engine, model path and sampling settings.

    The path is part of the key because the sample store's own manifest names it: the same
    weights under another path get a new folder instead of a refused one.
    """
    key = json.dumps([model_digest, engine, model, sampling], sort_keys=True).encode()
    return root / hashlib.sha256(key).hexdigest()[:16]
