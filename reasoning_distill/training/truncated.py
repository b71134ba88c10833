"""Rows whose trace was cut off: never train an end-of-turn token after text cut mid-sentence.

A dataset row whose `finish_reason` column is `"length"` holds a completion that hit the
token limit. The chat template still closes its assistant turn (`<|im_end|>`, an EOS), and
training on that token would teach the student to stop mid-thought. After TRL has tokenised
the rows, `mask_truncated_ends` sets the labels of those closing tokens to -100 in each such
row: the end-of-turn token (the template's and the tokenizer's EOS) and the whitespace around
it at the end of the trained span. The tokens stay in `input_ids`, so a teacher cache keyed
by the token ids still finds the row. Rows without the column, or with any other value, are
trained as before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from reasoning_distill.errors import ConfigError
from reasoning_distill.training.losses import IGNORE_INDEX

logger = logging.getLogger(__name__)

COLUMN, TRUNCATED = "finish_reason", "length"


def is_truncated(value) -> bool:
    return isinstance(value, str) and value.strip().lower() == TRUNCATED


def count_truncated(dataset) -> int:
    """Rows of `dataset` whose `finish_reason` is "length" (0 without the column)."""
    if COLUMN not in (getattr(dataset, "column_names", None) or []):
        return 0
    return sum(1 for v in dataset[COLUMN] if is_truncated(v))


def untrain_closing_tokens(labels: list[int], stop_ids: Iterable[int], tokenizer) -> list[int]:
    """`labels` with the trailing end-of-turn tokens (and whitespace between them) untrained.

    Walks back from the last trained token while it is a stop id or decodes to whitespace;
    the first content token ends the walk. Unchanged when the span does not end on a stop id.
    """
    stops = set(stop_ids)
    out = list(labels)
    trained = [i for i, t in enumerate(out) if t != IGNORE_INDEX]
    closing: list[int] = []
    for i in reversed(trained):
        t = out[i]
        if t in stops or tokenizer.decode([t], skip_special_tokens=False).strip() == "":
            closing.append(i)
            continue
        break
    if not any(out[i] in stops for i in closing):
        return out
    for i in closing:
        out[i] = IGNORE_INDEX
    return out


def refuse_packing_truncated(dataset, packing: bool) -> None:
    """`ConfigError` when `dataset` (the rows, before tokenisation) has cut-off rows and is to
    be packed: packing loses the row boundaries the masking needs."""
    n = count_truncated(dataset) if packing else 0
    if n:
        raise ConfigError(
            f"{n} rows have finish_reason 'length' (cut off), and packing hides where each row "
            f"ends, so their end-of-turn token would be trained: set packing: false, or drop "
            f"those rows from the dataset"
        )


def mask_truncated_ends(train_dataset, tokenizer, stop_ids: Iterable[int]):
    """The tokenised dataset (TRL's, with `labels`, not packed) with truncated rows' closing
    tokens masked."""
    n = count_truncated(train_dataset)
    if not n or "labels" not in train_dataset.column_names:
        return train_dataset
    stops = sorted({int(s) for s in stop_ids if s is not None})

    def mask(row):
        if not is_truncated(row[COLUMN]):
            return {"labels": row["labels"]}
        return {"labels": untrain_closing_tokens(row["labels"], stops, tokenizer)}

    logger.info(
        "%d truncated rows (finish_reason 'length'): their end-of-turn tokens %s are not trained",
        n,
        tokenizer.convert_ids_to_tokens(stops),
    )
    return train_dataset.map(mask, desc="Masking the end of truncated rows")


def truncated_row_indices(rows) -> set[int]:
    """Indices of rows (dicts) whose `finish_reason` is "length"."""
    return {i for i, r in enumerate(rows) if is_truncated(r.get(COLUMN))}
