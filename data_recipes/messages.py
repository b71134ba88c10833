"""Turn generated samples into a `messages`-format Hugging Face dataset with a card.

A dataset is written to a temporary sibling folder and swapped into place with
`atomic.replace_dir`, so an interrupted build never leaves a half-written dataset under the
final name. Every dataset folder we write carries `DATASET_MARKER` (our own metadata file):
an existing folder is replaced only when it carries it (or is empty), so `--out` naming a
folder of the user's own files is refused instead of deleted.
"""

from __future__ import annotations

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
    """Refuse (`OutputError`) an `out_dir` we may not replace or cannot create; call it
    before any work, so a wrong `--out` fails at once, not after hours of generation."""
    import os

    from reasoning_distill.errors import OutputError

    check_replaceable(out_dir, DATASET_MARKER)
    parent = Path(out_dir).absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{out_dir}: {parent} is a file, so no folder can be made under it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{out_dir}: {parent} is not writable; choose another --out")


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
    rows: Iterable[Any],
    out_dir: str | Path,
    card: Mapping[str, Any],
    *,
    parquet: bool = False,
    features: Any = None,
    positioned: bool = False,
) -> Path:
    """Save `rows` as a `datasets` folder at `out_dir` with a README.md dataset card.

    With `parquet`, the rows are also written as `data/train-00000-of-00001.parquet` (what the
    card's `configs` front matter points the Hub at). Returns `out_dir`. Refuses an empty
    dataset: training on nothing is always a mistake.

    With `features` (a `datasets.Features`), the rows are streamed to disk as they come, in
    bounded memory (`arrow_rows.write_rows`); `positioned` rows are `(position, row)` pairs,
    written in position order. Without, the rows are listed and their features inferred.
    """
    from reasoning_distill.data_recipes.arrow_rows import write_rows
    from reasoning_distill.data_recipes.card import HISTOGRAM_PNG, histogram_png, render_card

    out_dir = Path(out_dir)
    check_output_dir(out_dir)
    if features is None:
        from datasets import Dataset

        rows = list(rows)
        if not rows:
            raise ValueError(f"no rows to write to {out_dir}: every sample was filtered out")
        features = Dataset.from_list(rows).features
    pairs = rows if positioned else enumerate(rows)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(out_dir.parent, out_dir.name)
    tmp = temp_sibling(out_dir)
    try:
        tmp.mkdir()
        if parquet:
            (tmp / "data").mkdir()
        n = write_rows(
            pairs,
            tmp,
            features,
            parquet_path=(tmp / "data" / "train-00000-of-00001.parquet") if parquet else None,
        )
        if not n:
            raise ValueError(f"no rows to write to {out_dir}: every sample was filtered out")
        png = histogram_png(card.get("lengths") or [])
        if png is not None:
            (tmp / HISTOGRAM_PNG).write_bytes(png)
        atomic_write_text(tmp / "README.md", render_card(card, n, parquet=parquet))
        atomic_write_json(
            tmp / DATASET_MARKER,
            {
                "written_by": "reasoning-distill",
                "rows": n,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
        )
        replace_dir(tmp, out_dir, DATASET_MARKER)
    except OSError as e:
        if e.filename is not None or e.errno is None:
            raise
        # a full disk inside `datasets`/pyarrow names no file: name the folder being written
        raise OSError(e.errno, f"{e.strerror} (writing the dataset)", str(out_dir)) from e
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)  # our own temporary, never the target
    logger.info("wrote %d rows to %s", n, out_dir)
    return out_dir
