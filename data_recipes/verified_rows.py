"""A `messages` dataset from verified JSONL rows (what `rdistill verify` writes).

`read_rows` checks each row's fields and types, keeping the verified rows (or all of them);
`to_dataset_rows` turns the kept rows into dataset rows (the prompt turns plus the
completion, or only the answer); `build_from_rows` does both and writes the dataset folder
with its card.
"""

from __future__ import annotations

from pathlib import Path

from reasoning_distill.errors import InputError, OutputError


def read_rows(path: Path, verdict_field: str, keep: str) -> tuple[list[dict], int]:
    """The rows to keep and how many were read; errors name the file, line and field.

    Values of the wrong type are refused, never coerced: a verdict whose `correct` is the
    string "false" would be truthy, and a wrong trace would be trained on.
    """
    from reasoning_distill.jsonl import iter_jsonl

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    kept, total = [], 0
    for lineno, row in iter_jsonl(path):
        where = f"{path}:{lineno}"
        total += 1
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
        kept.append(row)
    return kept, total


def to_dataset_rows(rows: list[dict], answer_only: bool) -> list[dict]:
    """Dataset rows: each row's non-assistant turns, then its completion (or its answer alone)."""
    from reasoning_distill.data_recipes.messages import assistant_text, to_messages_row

    from reasoning_distill.generation.parsing import split_reasoning

    out_rows = []
    for r in rows:
        prompt = [m for m in r["messages"] if m["role"] != "assistant"]
        if answer_only:
            content = assistant_text("", r.get("answer") or split_reasoning(r["completion"]).answer)
        else:
            content = r["completion"]
        meta = {k: r[k] for k in ("problem_id", "sample_index") if k in r}
        out_rows.append(to_messages_row(prompt, content, meta))
    return out_rows


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
    rows, total = read_rows(input_path, verdict_field, keep)
    out_rows = to_dataset_rows(rows, answer_only)
    card = {
        "title": title or f"reasoning-distill dataset from {input_path.name}",
        "description": f"Built by `rdistill build` (keep={keep}, answer_only={answer_only}).",
        "source": str(input_path.resolve()),
        "read": total,
        "kept": len(out_rows),
    }
    try:
        write_dataset(out_rows, out, card)
    except ValueError as e:
        raise InputError(f"{input_path}: {e}") from None
    return len(out_rows), total
