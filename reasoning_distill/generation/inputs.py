"""Load problems for generation from JSONL, a local dataset or a Hugging Face hub id.

Field names are mapped (`id_field`, `prompt_field`, `gold_field`); rows lacking the prompt
(or id) are reported by row number and either stop the load or are skipped, as configured,
never silently dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reasoning_distill.errors import ConfigError, InputError
from reasoning_distill.jsonl import iter_jsonl
from reasoning_distill.records import Problem

logger = logging.getLogger(__name__)

_SHOW = 20  # row numbers shown in a message
# Inputs with these endings are local files, never hub ids.
_DATA_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv", ".arrow")
# Single data files read through `datasets` (JSONL and JSON have their own readers here).
_FILE_BUILDERS = {".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}


__all__ = ["InputError", "LoadedProblems", "iter_rows", "load_problems", "problems_from_rows"]


@dataclass
class LoadedProblems:
    """Problems plus what was skipped on the way (1-based row numbers, by reason)."""

    problems: list[Problem]
    source: str
    skipped: dict[str, list[int]] = field(default_factory=dict)

    @property
    def n_skipped(self) -> int:
        return sum(len(v) for v in self.skipped.values())


def _rows_text(rows: list[int]) -> str:
    shown = ", ".join(map(str, rows[:_SHOW]))
    return shown + (f" (and {len(rows) - _SHOW} more)" if len(rows) > _SHOW else "")


def _iter_json(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise InputError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{raw[e.start]:02x}); re-encode the file as UTF-8"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of objects")
    for i, row in enumerate(data, 1):
        if not isinstance(row, dict):
            raise InputError(f"{path}: item {i} is not a JSON object")
        yield i, row


def _iter_dataset(source: str, split: str) -> Iterator[tuple[int, dict[str, Any]]]:
    import datasets

    path = Path(source)
    try:
        if path.is_dir() and (
            (path / "dataset_info.json").exists()
            or (path / "dataset_dict.json").exists()
            or (path / "state.json").exists()
        ):
            ds = datasets.load_from_disk(str(path))
            if isinstance(ds, datasets.DatasetDict):
                if split not in ds:
                    raise InputError(f"{source}: no split {split!r}; has {sorted(ds)}")
                ds = ds[split]
        elif path.is_file() and path.suffix in _FILE_BUILDERS:
            # A single data file has one split; load_dataset(path) would look it up on the Hub.
            builder = _FILE_BUILDERS[path.suffix]
            ds = datasets.load_dataset(builder, data_files=str(path), split="train")
        else:
            ds = datasets.load_dataset(source, split=split)
    except InputError:
        raise
    except Exception as e:  # datasets raises many types; the user needs the source and the cause
        hint = ""
        if isinstance(e, ConnectionError):
            hint = (
                f"\n  {source!r} is no local file or folder, and the Hub cannot be reached "
                "(HF_HUB_OFFLINE / HF_DATASETS_OFFLINE set, or no network): save the dataset "
                "where there is a network and pass its folder"
            )
        raise InputError(f"cannot load dataset {source!r} (split {split!r}): {e}{hint}") from e
    yield from enumerate(ds, 1)


def iter_rows(source: str | Path, split: str = "train") -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, row) pairs from a .jsonl/.json file, a local dataset folder or a hub id."""
    path = Path(source)
    text = str(source)
    looks_local = text.startswith(("/", ".")) or path.suffix in _DATA_SUFFIXES
    if looks_local and not path.exists():
        # Otherwise it would be tried as a hub id and fail with the Hub's message, not this one.
        raise InputError(f"{path}: no such file or folder")
    if path.exists():
        if path.suffix == ".jsonl":
            return iter_jsonl(path)
        if path.suffix == ".json":
            return _iter_json(path)
    return _iter_dataset(str(source), split)


def problems_from_rows(
    rows: Iterable[tuple[int, dict[str, Any]]],
    source: str,
    *,
    id_field: str | None = "id",
    prompt_field: str = "problem",
    gold_field: str | None = "answer",
    kind: str = "math",
    on_missing: str = "stop",
    limit: int | None = None,
) -> LoadedProblems:
    """Map rows to `Problem`s.

    `id_field=None` names each problem `row-<n>` by its row number. `on_missing` is "stop"
    (raise `InputError` listing every offending row) or "skip" (log them and go on).
    """
    if on_missing not in ("stop", "skip"):
        raise ConfigError(f"on_missing must be 'stop' or 'skip', got {on_missing!r}")
    problems: list[Problem] = []
    missing: dict[str, list[int]] = {}
    fields_seen: set[str] = set()
    for rowno, row in rows:
        if limit is not None and len(problems) >= limit:
            break
        fields_seen.update(row)
        prompt = row.get(prompt_field)
        if prompt is not None and not isinstance(prompt, str):
            # A number or a list is no prompt: refused, never turned into text.
            why = f"field {prompt_field!r} is not text ({type(prompt).__name__})"
            missing.setdefault(why, []).append(rowno)
            continue
        if not isinstance(prompt, str) or not prompt.strip():
            missing.setdefault(f"field {prompt_field!r} missing or empty", []).append(rowno)
            continue
        if id_field is None:
            pid = f"row-{rowno}"
        else:
            raw_id = row.get(id_field)
            if raw_id is None or str(raw_id) == "":
                missing.setdefault(f"field {id_field!r} missing", []).append(rowno)
                continue
            if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int, float)):
                why = f"field {id_field!r} is not a string or number ({type(raw_id).__name__})"
                missing.setdefault(why, []).append(rowno)
                continue
            pid = str(raw_id)
        gold = row.get(gold_field) if gold_field else None
        used = {prompt_field, id_field, gold_field}
        meta = {k: v for k, v in row.items() if k not in used and _jsonable(v)}
        problems.append(
            Problem(id=pid, prompt=prompt, gold=gold, kind=kind, source=source, meta=meta)
        )
    if missing:
        lines = [f"  {why}: rows {_rows_text(r)}" for why, r in missing.items()]
        text = (
            f"{source}: {sum(len(r) for r in missing.values())} rows cannot be used:\n"
            + "\n".join(lines)
        )
        if not problems and fields_seen:
            text += f"\n  fields present in the input: {sorted(fields_seen)}"
        if on_missing == "stop":
            raise InputError(
                text
                + "\nFix them, map other fields (--prompt-field/--id-field), or pass --on-missing skip."
            )
        logger.warning("%s\nskipping them (--on-missing skip)", text)
    return LoadedProblems(problems=problems, source=source, skipped=missing)


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
    except (TypeError, ValueError):
        return False
    return True


def load_problems(
    source: str | Path,
    *,
    id_field: str | None = "id",
    prompt_field: str = "problem",
    gold_field: str | None = "answer",
    split: str = "train",
    kind: str = "math",
    on_missing: str = "stop",
    limit: int | None = None,
) -> LoadedProblems:
    """Load problems from a .jsonl / .json file, a local `datasets` folder or a hub id."""
    return problems_from_rows(
        iter_rows(source, split),
        str(source),
        id_field=id_field,
        prompt_field=prompt_field,
        gold_field=gold_field,
        kind=kind,
        on_missing=on_missing,
        limit=limit,
    )
