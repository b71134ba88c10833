"""A `messages` dataset from verified JSONL rows (what `rdistill verify` writes).

`iter_rows` checks each row's fields and types, yielding the verified rows (or all of them);
`to_dataset_rows` turns the kept rows into dataset rows (the prompt turns plus the
completion, or only the answer); `build_from_rows` does both and writes the dataset folder
with its card, streaming: one pass checks every row and infers the columns from one
text-free row per distinct shape, a second writes the rows as they are read, so memory does
not grow with the input.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from reasoning_distill.errors import InputError, OutputError


def read_rows(path: Path, verdict_field: str, keep: str) -> tuple[list[dict], int]:
    """The rows to keep, as a list, and how many were read (`iter_rows` streams them)."""
    counted = [0]
    kept = list(iter_rows(path, verdict_field, keep, counted))
    return kept, counted[0]


def iter_rows(
    path: Path, verdict_field: str, keep: str, counted: list[int] | None = None
) -> Iterator[dict]:
    """The rows to keep, as read; errors name the file, line and field. `counted[0]` is set
    to how many rows were read once the stream ends.

    Values of the wrong type are refused, never coerced: a verdict whose `correct` is the
    string "false" would be truthy, and a wrong trace would be trained on.
    """
    from reasoning_distill.jsonl import iter_jsonl

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    total = 0
    for lineno, row in iter_jsonl(path):
        where = f"{path}:{lineno}"
        total += 1
        if counted is not None:
            counted[0] = total
        for field in ("messages", "completion"):
            if field not in row:
                raise InputError(f"{where}: missing field {field!r}")
        if not isinstance(row["completion"], str):
            raise InputError(f"{where}: field 'completion' must be a string")
        messages = row["messages"]
        if not isinstance(messages, list) or not all(
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
            for m in messages
        ):
            raise InputError(
                f"{where}: field 'messages' must be a list of {{role, content}} string pairs"
            )
        if not any(m["role"] == "user" for m in messages):
            raise InputError(f"{where}: field 'messages' has no user turn")
        verdict = row.get(verdict_field)
        if keep == "verified":
            if not isinstance(verdict, dict) or "correct" not in verdict:
                raise InputError(
                    f"{where}: missing field {verdict_field!r} (run `rdistill verify` first, "
                    "or use --keep all)"
                )
            if not isinstance(verdict["correct"], bool):
                raise InputError(
                    f"{where}: field {verdict_field}.correct must be true or false, got "
                    f"{verdict['correct']!r}"
                )
            if not verdict["correct"]:
                continue
        yield row


def to_dataset_rows(rows: Iterable[dict], answer_only: bool) -> list[dict]:
    """Dataset rows: each row's non-assistant turns, then its completion (or its answer alone)."""
    return list(iter_dataset_rows(rows, answer_only))


def iter_dataset_rows(rows: Iterable[dict], answer_only: bool) -> Iterator[dict]:
    """`to_dataset_rows`, one row at a time."""
    from reasoning_distill.data_recipes.messages import assistant_text, to_messages_row

    from reasoning_distill.generation.parsing import split_reasoning

    for r in rows:
        prompt = [m for m in r["messages"] if m["role"] != "assistant"]
        if answer_only:
            content = assistant_text("", r.get("answer") or split_reasoning(r["completion"]).answer)
        else:
            content = r["completion"]
        meta = {k: r[k] for k in ("problem_id", "sample_index") if k in r}
        yield to_messages_row(prompt, content, meta)


def _shape(value: Any) -> Any:
    """What Arrow's type inference sees of a value, texts emptied: rows of one shape infer
    one type, so one row per shape infers what all of them would."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return "" if isinstance(value, str) else value


def _shape_key(value: Any) -> Any:
    if isinstance(value, dict):
        return ("d", tuple((k, _shape_key(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("l", tuple(dict.fromkeys(_shape_key(v) for v in value)))
    return type(value).__name__


def infer_features(rows: Iterable[dict]) -> Any:
    """The `datasets.Features` that `Dataset.from_list` infers for `rows`, holding one
    text-free row per distinct shape (the first row first: it names the columns)."""
    from datasets import Dataset

    shapes: dict[Any, dict] = {}
    for row in rows:
        shapes.setdefault(_shape_key(row), _shape(row))
    if not shapes:
        return None
    return Dataset.from_list(list(shapes.values())).features


def build_from_rows(
    input_path: Path,
    out: Path,
    *,
    keep: str,
    verdict_field: str,
    answer_only: bool,
    title: str | None = None,
) -> tuple[int, int]:
    """Write the dataset folder `out` from the rows of `input_path`: (rows kept, rows read).

    `out` is checked before anything is read, and may not hold the input.
    """
    from reasoning_distill.data_recipes.messages import check_output_dir, write_dataset

    check_output_dir(out)
    if input_path.resolve() == out.resolve() or out.resolve() in input_path.resolve().parents:
        raise OutputError(f"--out {out} holds the input {input_path}; choose another folder")
    counted, kept = [0], [0]

    def rows(count: list[int]) -> Iterator[dict]:
        for row in iter_dataset_rows(
            iter_rows(input_path, verdict_field, keep, counted), answer_only
        ):
            count[0] += 1
            yield row

    try:
        features = infer_features(rows(kept))  # checks every row first, holding none
        if features is None:
            raise ValueError(f"no rows to write to {out}: every sample was filtered out")
        card = {
            "title": title or f"reasoning-distill dataset from {input_path.name}",
            "description": f"Built by `rdistill build` (keep={keep}, answer_only={answer_only}).",
            "source": str(input_path.resolve()),
            "read": counted[0],
            "kept": kept[0],
        }
        write_dataset(rows([0]), out, card, features=features)
    except ValueError as e:
        raise InputError(f"{input_path}: {e}") from None
    return kept[0], counted[0]
