"""Load a recipe's sources as `Problem`s: field mapping, slicing, seeded shuffle, weighted mix.

Origins: a Hugging Face dataset id (config, split, revision), a local JSONL / JSON / Parquet
file or `save_to_disk` folder (read through `generation.inputs.iter_rows`), or the miniature
world. Every problem keeps its raw text in `meta["question"]` (what dedupe and
decontamination compare) and gets its prompt from the recipe's template for its kind.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reasoning_distill.data_recipes.recipe import Recipe, Source, resolve_path

from reasoning_distill.errors import ConfigError, InputError
from reasoning_distill.records import Problem

logger = logging.getLogger(__name__)


def _hub_rows(src: Source) -> Iterator[tuple[int, dict[str, Any]]]:
    import datasets

    hub = src.hf
    try:
        ds = datasets.load_dataset(hub.id, hub.config, split=hub.split, revision=hub.revision)
    except Exception as e:  # the Hub client raises many transport and lookup errors
        raise InputError(
            f"source {src.name!r}: cannot load {hub.id} (config={hub.config}, split={hub.split}) "
            f"from the Hugging Face Hub ({type(e).__name__}: {str(e)[:300]}); check the id, or "
            "download it and point `path:` at the local copy"
        ) from None
    for i, row in enumerate(ds, 1):
        yield i, dict(row)


def _toy_rows(src: Source) -> Iterator[tuple[int, dict[str, Any]]]:
    from reasoning_distill.toy.tasks import make_traces

    toy = src.toy
    for i, t in enumerate(make_traces(toy.kind, toy.split, toy.n, toy.seed), 1):
        p = t.problem
        yield (
            i,
            {"id": p.id, "problem": p.prompt, "answer": p.gold, "tests": p.gold, "kind": p.kind},
        )


def source_rows(src: Source, root: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, row) of a source, in its stored order."""
    if src.toy is not None:
        return _toy_rows(src)
    if src.hf is not None:
        return _hub_rows(src)
    from reasoning_distill.generation.inputs import iter_rows

    path = resolve_path(src.path, root)
    if not path.exists():
        raise InputError(f"source {src.name!r}: no such file or folder {path}")
    return iter_rows(str(path))


def _gold(src: Source, kind: str, row: dict, where: str) -> Any:
    f = src.fields
    if src.toy is not None:
        return row["answer"]
    name = f.answer if kind == "math" else (f.tests or f.answer)
    if name is None:
        return None
    if name not in row:
        raise InputError(
            f"{where}: missing field {name!r} (map it with fields.{'answer' if kind == 'math' else 'tests'})"
        )
    gold = row[name]
    if gold is None:
        raise InputError(
            f"{where}: field {name!r} is null (present, but no "
            f"{'answer' if kind == 'math' else 'tests'}); fill it in or drop the row"
        )
    if kind == "math":
        if isinstance(gold, bool) or not isinstance(gold, (str, int, float)):
            raise InputError(
                f"{where}: field {name!r} must be an answer string, got {type(gold).__name__}"
            )
        text = str(gold).strip()
        if "####" in text:  # GSM8K solutions end with '#### 72'
            text = text.rsplit("####", 1)[1].strip().replace(",", "")
        return text
    from reasoning_distill.verifiers.code import TestsError, parse_tests

    apps = f.tests_format == "apps"
    try:
        return parse_tests(gold, (lambda io: _apps_tests(io, where, name)) if apps else None)
    except TestsError as e:
        why = f" is not a tests object or JSON ({e})" if e.not_json else f": {e}"
        raise InputError(f"{where}: field {name!r}{why}") from None


def _text(v: Any) -> Any:
    # APPS / TACO store a few stdio inputs and outputs as lists of lines
    return "\n".join(map(str, v)) if isinstance(v, list) else v


def _apps_tests(io: Any, where: str, name: str) -> dict[str, Any]:
    """APPS / TACO `input_output` ({"inputs", "outputs", "fn_name"?}) as a tests object."""
    if (
        not isinstance(io, dict)
        or not isinstance(io.get("inputs"), list)
        or not isinstance(io.get("outputs"), list)
    ):
        raise InputError(f"{where}: field {name!r} must hold {{'inputs': [...], 'outputs': [...]}}")
    if len(io["inputs"]) != len(io["outputs"]):
        raise InputError(f"{where}: field {name!r} has unequal inputs and outputs")
    pairs = list(zip(io["inputs"], io["outputs"], strict=True))
    if io.get("fn_name"):
        return {
            "kind": "call",
            "fn_name": io["fn_name"],
            "cases": [{"input": i, "output": o} for i, o in pairs],
        }
    return {"kind": "stdio", "cases": [{"input": _text(i), "output": _text(o)} for i, o in pairs]}


def load_source(src: Source, recipe: Recipe, root: Path) -> list[Problem]:
    """The problems of one source after slicing (offset, limit) and its seeded shuffle."""
    f = src.fields
    problems: list[Problem] = []
    seen: set[str] = set()
    rows = list(source_rows(src, root))
    if src.shuffle:
        random.Random(src.seed).shuffle(rows)
    rows = rows[src.offset :]
    if src.limit is not None:
        rows = rows[: src.limit]
    for rowno, row in rows:
        where = f"source {src.name!r} row {rowno}"
        text = row.get("problem" if src.toy else f.problem)
        if not isinstance(text, str) or not text.strip():
            raise InputError(
                f"{where}: field {f.problem!r} missing, empty or not text (fields present: "
                f"{sorted(row)[:12]}); map it with fields.problem"
            )
        kind = src.toy.kind if src.toy else src.kind
        if f.kind and not src.toy:
            kind = row.get(f.kind)
            if kind not in ("math", "code"):
                raise InputError(
                    f"{where}: field {f.kind!r} must be 'math' or 'code', got {kind!r}"
                )
        if src.toy or f.id is None:
            pid = str(row.get("id")) if src.toy else f"{src.name}-{rowno}"
        else:
            raw = row.get(f.id)
            if isinstance(raw, bool) or not isinstance(raw, (str, int)):
                raise InputError(f"{where}: field {f.id!r} missing or not a string/integer id")
            pid = f"{src.name}-{raw}"
        if pid in seen:
            raise InputError(
                f"{where}: duplicate problem id {pid!r}; map another fields.id or set it to null"
            )
        seen.add(pid)
        template = src.template or (
            recipe.prompt.math_template if kind == "math" else recipe.prompt.code_template
        )
        used = {f.problem, f.answer, f.tests, f.id, f.kind}
        meta = {k: v for k, v in row.items() if k not in used and _small_jsonable(v)}
        meta["question"] = text
        problems.append(
            Problem(
                id=pid,
                prompt=template.replace("{problem}", text),
                gold=_gold(src, kind, row, where),
                kind=kind,
                source=src.name,
                meta=meta,
            )
        )
    return problems


def _small_jsonable(v: Any) -> bool:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return not isinstance(v, str) or len(v) < 2000
    return False


def load_sources(recipe: Recipe, root: Path) -> tuple[list[Problem], dict[str, dict[str, int]]]:
    """Every source's problems, mixed by weight when `mix_total` is set; counts per source."""
    per = {src.name: load_source(src, recipe, root) for src in recipe.sources}
    counts = {name: {"loaded": len(ps)} for name, ps in per.items()}
    if recipe.mix_total is not None:
        total_w = sum(s.weight for s in recipe.sources)
        for src in recipe.sources:
            want = round(recipe.mix_total * src.weight / total_w)
            have = per[src.name]
            if want > len(have):
                raise ConfigError(
                    f"sources: {src.name!r} has {len(have)} problems but its weight asks for "
                    f"{want} of mix_total={recipe.mix_total}; lower mix_total or its weight"
                )
            rng = random.Random(f"mix-{src.seed}-{src.name}")
            chosen = sorted(rng.sample(range(len(have)), want))
            per[src.name] = [have[i] for i in chosen]
            counts[src.name]["mixed"] = want
    problems = [p for src in recipe.sources for p in per[src.name]]
    return problems, counts
