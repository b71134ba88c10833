"""Turn generated samples into a `messages`-format Hugging Face dataset with a card.

A dataset is written to a temporary folder and renamed into place, so an interrupted build
never leaves a half-written dataset under the final name.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def assistant_text(reasoning: str | None, answer: str) -> str:
    """The assistant turn in the `<think>` format (an empty think block when no reasoning)."""
    return f"<think>\n{(reasoning or '').strip()}\n</think>\n\n{answer.strip()}"


def to_messages_row(
    prompt: str, assistant: str, meta: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "messages": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": assistant},
        ]
    }
    row.update(meta or {})
    return row


def write_dataset(
    rows: Iterable[Mapping[str, Any]], out_dir: str | Path, card: Mapping[str, Any]
) -> Path:
    """Save `rows` as a `datasets` folder at `out_dir` with a README.md dataset card.

    Returns `out_dir`. Refuses an empty dataset: training on nothing is always a mistake.
    """
    from datasets import Dataset

    out_dir = Path(out_dir)
    rows = list(rows)
    if not rows:
        raise ValueError(f"no rows to write to {out_dir}: every sample was filtered out")
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    Dataset.from_list(rows).save_to_disk(str(tmp))
    (tmp / "README.md").write_text(render_card(card, len(rows)))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    logger.info("wrote %d rows to %s", len(rows), out_dir)
    return out_dir


def render_card(card: Mapping[str, Any], n_rows: int) -> str:
    """A dataset card: YAML front matter, then the provenance a user needs to trust it."""
    title = card.get("title", "reasoning-distill dataset")
    lines = [
        "---",
        "task_categories: [text-generation]",
        "tags: [reasoning, distillation, reasoning-distill]",
        f"size: {n_rows}",
        "---",
        f"# {title}",
        "",
        str(card.get("description", "")),
        "",
        f"Rows: {n_rows}. Format: `messages` (user prompt, assistant reply with a "
        "`<think>...</think>` block, then the answer).",
        "",
        "## Provenance",
        "```json",
        json.dumps(
            {k: v for k, v in card.items() if k not in ("title", "description")},
            indent=2,
            default=str,
        ),
        "```",
        "",
    ]
    return "\n".join(lines)
