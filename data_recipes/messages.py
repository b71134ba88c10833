"""Turn generated samples into a `messages`-format Hugging Face dataset with a card.

A dataset is written to a temporary sibling folder and swapped into place with
`atomic.replace_dir`, so an interrupted build never leaves a half-written dataset under the
final name. Every dataset folder we write carries `DATASET_MARKER` (our own metadata file):
an existing folder is replaced only when it carries it (or is empty), so `--out` naming a
folder of the user's own files is refused instead of deleted.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from reasoning_distill.atomic import (
    atomic_write_json,
    atomic_write_text,
    check_replaceable,
    clean_stale_temporaries,
    replace_dir,
    temp_sibling,
)

logger = logging.getLogger(__name__)

# Written into every dataset folder this project makes; its presence is what allows replacing.
DATASET_MARKER = "rdistill_dataset.json"


def check_output_dir(out_dir: str | Path) -> None:
    """Refuse (`OutputError`) an `out_dir` we may not replace; call before any work."""
    check_replaceable(out_dir, DATASET_MARKER)


def assistant_text(reasoning: str | None, answer: str) -> str:
    """The assistant turn in the `<think>` format (an empty think block when no reasoning)."""
    return f"<think>\n{(reasoning or '').strip()}\n</think>\n\n{answer.strip()}"


def to_messages_row(
    prompt: str | list[dict[str, str]], assistant: str, meta: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A `messages` row: every prompt turn (system included), then the assistant turn.

    `prompt` is the user text, or the prompt's turns as sent to the teacher.
    """
    turns = (
        [{"role": "user", "content": prompt}]
        if isinstance(prompt, str)
        else [{"role": m["role"], "content": m["content"]} for m in prompt]
    )
    row: dict[str, Any] = {"messages": [*turns, {"role": "assistant", "content": assistant}]}
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
    check_output_dir(out_dir)
    rows = list(rows)
    if not rows:
        raise ValueError(f"no rows to write to {out_dir}: every sample was filtered out")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(out_dir.parent, out_dir.name)
    tmp = temp_sibling(out_dir)
    try:
        Dataset.from_list(rows).save_to_disk(str(tmp))
        atomic_write_text(tmp / "README.md", render_card(card, len(rows)))
        atomic_write_json(
            tmp / DATASET_MARKER,
            {
                "written_by": "reasoning-distill",
                "rows": len(rows),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
        )
        replace_dir(tmp, out_dir, DATASET_MARKER)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)  # our own temporary, never the target
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
