"""Build a `messages`-format dataset for SFT from verified generation records.

  rdistill build --input verified.jsonl --out data/verified            # verified traces only
  rdistill build --input verified.jsonl --out data/all --keep all      # every trace
  rdistill build --input verified.jsonl --out data/ans --answer-only   # no reasoning

Rows come from `rdistill verify` (generation records with a `verdict`). The dataset is
written with `datasets.save_to_disk` to a temporary folder and renamed into place, with a
README.md dataset card recording where it came from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "build an SFT dataset (messages format, with a card) from verified records"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--input", required=True, type=Path, help="JSONL from `rdistill verify`")
    p.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    p.add_argument("--keep", choices=["verified", "all"], default="verified")
    p.add_argument("--answer-only", action="store_true", help="drop the reasoning")
    p.add_argument("--verdict-field", default="verdict")
    p.add_argument("--title", default=None, help="dataset card title")


def read_rows(path: Path, verdict_field: str, keep: str) -> tuple[list[dict], int]:
    """The rows to keep and how many were read; errors name the file, line and field.

    Values of the wrong type are refused, never coerced: a verdict whose `correct` is the
    string "false" would be truthy, and a wrong trace would be trained on.
    """
    from reasoning_distill.errors import InputError
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


def main(args: argparse.Namespace) -> int:
    from rich.console import Console

    from reasoning_distill.data_recipes.messages import (
        assistant_text,
        check_output_dir,
        to_messages_row,
        write_dataset,
    )
    from reasoning_distill.errors import InputError
    from reasoning_distill.generation.parsing import split_reasoning

    check_output_dir(args.out)
    if (
        args.input.resolve() == args.out.resolve()
        or args.out.resolve() in args.input.resolve().parents
    ):
        from reasoning_distill.errors import OutputError

        raise OutputError(f"--out {args.out} holds the input {args.input}; choose another folder")
    rows, total = read_rows(args.input, args.verdict_field, args.keep)
    out_rows = []
    for r in rows:
        prompt = [m for m in r["messages"] if m["role"] != "assistant"]
        if args.answer_only:
            content = assistant_text("", r.get("answer") or split_reasoning(r["completion"]).answer)
        else:
            content = r["completion"]
        meta = {k: r[k] for k in ("problem_id", "sample_index") if k in r}
        out_rows.append(to_messages_row(prompt, content, meta))
    card = {
        "title": args.title or f"reasoning-distill dataset from {args.input.name}",
        "description": f"Built by `rdistill build` (keep={args.keep}, "
        f"answer_only={args.answer_only}).",
        "source": str(args.input.resolve()),
        "read": total,
        "kept": len(out_rows),
    }
    try:
        write_dataset(out_rows, args.out, card)
    except ValueError as e:
        raise InputError(f"{args.input}: {e}") from None
    Console().print(f"kept {len(out_rows)} of {total} rows -> {args.out}")
    return 0
