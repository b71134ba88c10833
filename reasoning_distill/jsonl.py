"""Read JSONL files row by row, with errors that name the file and the line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reasoning_distill.errors import InputError


class JSONLError(InputError):
    """A line that is not a UTF-8 JSON object; the message starts with `path:line:`."""


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, row) for every non-blank line of `path`."""
    path = Path(path)
    # Bytes, decoded line by line: a text-mode file fails on bad UTF-8 without saying where.
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise JSONLError(
                    f"{path}:{lineno}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at column "
                    f"{e.start + 1}); re-encode the file as UTF-8"
                ) from None
            if line.strip():
                yield lineno, json_object(line, f"{path}:{lineno}")


def json_object(
    line: str | bytes, where: str, error: type[Exception] = JSONLError
) -> dict[str, Any]:
    """One line parsed as a JSON object, else `error` naming `where` (a `path:line`)."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise error(f"{where}: not valid JSON ({e.msg})") from None
    if not isinstance(row, dict):
        raise error(f"{where}: expected a JSON object, got {type(row).__name__}")
    return row
