"""Read and summarise results.json envelopes (one model's evaluation).

Shape: `{"format": "rdistill-eval-results", "format_version": 1, "model": {name, path},
"manifest": {...}, "benchmarks": {name: {"metrics": {...}, "problems": [{id, correct,
reasons, answers, tokens, finish, meta}]}}, "warnings": [...]}`.

Also what `rdistill gap` reads: a plain multi-model results file (`load_plain_results`) and
student envelopes grouped by label into one student's training seeds (`group_students`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reasoning_distill.errors import ConfigError, InputError
from reasoning_distill.markdown import md_text
from reasoning_distill.numbers import fmt_ci

FORMAT = "rdistill-eval-results"


def results_path(path: str | Path) -> Path:
    """A results.json file, or the folder (`rdistill eval --out DIR/<model>`) holding one."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    return p


def load_results(path: str | Path, flag: str = "results") -> dict[str, Any]:
    """The envelope at `path` (a file or its folder), checked; `InputError` naming what is wrong."""
    p = results_path(path)
    if not p.is_file():
        raise InputError(f"{flag} {path}: no results.json there (run `rdistill eval` first)")
    try:
        env = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{p}: not valid JSON (line {e.lineno}: {e.msg})") from None
    if not isinstance(env, dict) or env.get("format") != FORMAT:
        raise InputError(
            f'{p}: not an `rdistill eval` results file (no "format": "{FORMAT}"); '
            "for a plain {benchmark: {model: {problem: [bool]}}} file use `rdistill gap --results`"
        )
    _check_model(p, env.get("model"))
    _check_manifest(p, env.get("manifest"))
    benches = env.get("benchmarks")
    if not isinstance(benches, dict) or not benches:
        raise InputError(f"{p}: has no benchmarks")
    n = (env["manifest"].get("sampling") or {}).get("n")
    for name, b in benches.items():
        _check_problems(p, name, b, n if isinstance(n, int) and not isinstance(n, bool) else None)
    env["_path"] = str(p)
    return env


_JSON_TYPES = {dict: "an object", list: "a list", str: "a string", bool: "true/false"}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _check_model(p: Path, model: Any) -> None:
    if model is None:
        raise InputError(f'{p}: field "model" is missing (expected {{"name": ..., "path": ...}})')
    if not isinstance(model, dict):
        raise InputError(f'{p}: field "model" must be an object, got {_kind(model)}')
    name = model.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f'{p}: field "model.name" must be a non-empty string, got {_kind(name)}')


# Manifest fields the comparison reads, and what each must be when present.
_MANIFEST_OBJECTS = ("engine", "sampling", "verifier", "software", "benchmarks", "chat_template")


def _check_manifest(p: Path, m: Any) -> None:
    """The manifest's shape, as far as `compare_manifests` reads it."""
    if m is None:
        raise InputError(
            f'{p}: field "manifest" is missing: the protocol the numbers were made under '
            "(`rdistill eval` writes it)"
        )
    if not isinstance(m, dict):
        raise InputError(f'{p}: field "manifest" must be an object, got {_kind(m)}')
    for key in _MANIFEST_OBJECTS:
        if m.get(key) is not None and not isinstance(m[key], dict):
            raise InputError(f'{p}: field "manifest.{key}" must be an object, got {_kind(m[key])}')
    options = (m.get("engine") or {}).get("options")
    if options is not None and not isinstance(options, dict):
        raise InputError(
            f'{p}: field "manifest.engine.options" must be an object, got {_kind(options)}'
        )
    for name, b in (m.get("benchmarks") or {}).items():
        field = f"manifest.benchmarks.{name}"
        if not isinstance(b, dict):
            raise InputError(f'{p}: field "{field}" must be an object, got {_kind(b)}')
        template = b.get("prompt_template")
        if template is not None and not isinstance(template, dict):
            raise InputError(
                f'{p}: field "{field}.prompt_template" must be an object, got {_kind(template)}'
            )


def _check_problems(p: Path, name: str, b: Any, n: int | None) -> None:
    """Every row: an id seen once, a non-empty list of verdicts, as many as every other row's
    (and as the manifest's sampling.n), token counts that are numbers."""
    problems = b.get("problems") if isinstance(b, dict) else None
    if not isinstance(problems, list) or not problems:
        raise InputError(f"{p}: benchmark {name!r} has no per-problem results")
    seen: dict[Any, int] = {}
    first: tuple[Any, int] | None = None
    for i, row in enumerate(problems):
        where = f"{p}: benchmark {name!r}, problem {i + 1}"
        if not isinstance(row, dict):
            raise InputError(f"{where}: must be an object, got {_kind(row)}")
        pid = row.get("id")
        if not isinstance(pid, str | int) or isinstance(pid, bool):
            raise InputError(f'{where}: field "id" must be a string, got {_kind(pid)}')
        if pid in seen:
            raise InputError(f"{where}: id {pid!r} is also problem {seen[pid] + 1}")
        seen[pid] = i
        correct = row.get("correct")
        if not isinstance(correct, list) or not all(isinstance(c, bool) for c in correct):
            raise InputError(f"{where}: 'correct' must be a list of true/false")
        if not correct:
            raise InputError(f"{where} ({pid!r}): 'correct' is empty (no samples)")
        if first is None:
            first = (pid, len(correct))
        elif len(correct) != first[1]:
            raise InputError(
                f"{where} ({pid!r}): 'correct' has {len(correct)} samples but problem "
                f"{first[0]!r} has {first[1]}; every problem needs the same number "
                "(finish the run that made them)"
            )
        tokens = row.get("tokens")
        if tokens is not None and (
            not isinstance(tokens, list)
            or not all(isinstance(t, int | float) and not isinstance(t, bool) for t in tokens)
        ):
            raise InputError(f"{where} ({pid!r}): 'tokens' must be a list of numbers")
        meta = row.get("meta")
        if meta is not None and not isinstance(meta, dict):
            raise InputError(f"{where} ({pid!r}): 'meta' must be an object, got {_kind(meta)}")
    if n is not None and first is not None and first[1] != n:
        raise InputError(
            f"{p}: benchmark {name!r}: {first[1]} samples per problem but "
            f'"manifest.sampling.n" is {n}'
        )


def per_problem(env: Mapping[str, Any], benchmark: str) -> dict[str, list[bool]]:
    return {r["id"]: list(r["correct"]) for r in env["benchmarks"][benchmark]["problems"]}


def summary_markdown(loaded: Mapping[str, Mapping[str, Any]]) -> str:
    """One table per benchmark: each model's pass@1 (interval), maj@n, lengths, truncation and
    how many verdicts the format check decided."""
    from reasoning_distill.eval.scoring import format_decided_text

    lines: list[str] = []
    benches: list[str] = []
    for env in loaded.values():
        benches += [b for b in env["benchmarks"] if b not in benches]
    for bench in benches:
        lines += [
            f"## {md_text(bench)}",
            "",
            "| model | pass@1 | 95% CI (method) | maj@n | mean tokens | p95 tokens | truncated "
            "| decided by the format check |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, env in loaded.items():
            b = env["benchmarks"].get(bench)
            if b is None:
                continue
            m = b["metrics"]
            n = m["n"]
            p1 = m["pass@1"]
            maj = m.get(f"maj@{n}")
            length = m["length"]["all"]
            lines.append(
                f"| {md_text(name)} | {p1['value']:.3f} | {fmt_ci(p1['ci95'])} ({p1['ci_method']}) | "
                f"{'n/a' if maj is None else format(maj['value'], '.3f')} | "
                f"{length['mean']:.1f} | {length['p95']:.0f} | {length['truncation_rate']:.1%} | "
                f"{md_text(format_decided_text(m.get('format_decided')))} |"
            )
        lines.append("")
    return "\n".join(lines)


def load_plain_results(path: Path) -> tuple[dict, dict | None, Any, Any]:
    """A plain results file (`rdistill gap --results`): (results {benchmark: {model:
    {problem_id: [bool per sample]}}}, extra (its "targets"), verification, protocol); the
    results may stand alone or sit under "results" beside the other three."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"--results {path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"--results {path}: is a folder, not a results file") from None
    except UnicodeDecodeError as e:
        raise InputError(f"--results {path}: not UTF-8 text ({e.reason})") from None
    except json.JSONDecodeError as e:
        raise InputError(f"--results {path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    if not isinstance(data, dict) or not data:
        raise InputError(f"--results {path}: expected a JSON object {{benchmark: {{model: ...}}}}")
    if "results" in data and isinstance(data["results"], dict):
        results = data["results"]
        extra = {"targets": data["targets"]} if "targets" in data else None
        verification, protocol = data.get("verification"), data.get("protocol")
    else:
        results, extra, verification, protocol = data, None, None, None
    if not all(isinstance(m, dict) for m in results.values()):
        raise InputError(f"--results {path}: expected {{benchmark: {{model: ...}}}}")
    return results, extra, verification, protocol


def _split_label(text: str) -> tuple[str | None, Path]:
    """`LABEL=PATH` or `PATH` (a path that itself holds "=" and exists is a path)."""
    label, sep, rest = text.partition("=")
    if not sep or not label or not rest or Path(text).exists():
        return None, Path(text)
    return label, Path(rest)


def group_students(values: list[Path], teacher_name: str) -> dict:
    """{name: envelope, or a list of envelopes: one per training seed of that student}.

    Results given one label (`--student verified=runs/eval/s0 --student verified=runs/eval/s1`)
    or, without labels, whose models carry one name are seeds of one student; the same file
    twice is refused, since it would count one run as two seeds."""
    groups: dict[str, list] = {}
    seen: dict[Path, str] = {}
    for value in values:
        label, path = _split_label(str(value))
        env = load_results(path, "--student")
        where = results_path(path).resolve()
        if where in seen:
            raise ConfigError(f"--student {value}: {seen[where]} already reads {where}")
        seen[where] = str(value)
        name = label or env["model"]["name"]
        if name == teacher_name:
            name = f"{name} (student)"
        groups.setdefault(name, []).append(env)
    return {name: envs[0] if len(envs) == 1 else envs for name, envs in groups.items()}
