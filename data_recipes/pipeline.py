"""Run a recipe: problems (source -> dedupe -> decontaminate) -> generate -> verify -> select
and write, resumable at every stage.

Work folder (`<output.dir>.work` unless given), every file ours::

    stages.json                 the hash of the recipe sections each stage started and
                                finished with (a killed stage's edit is seen too)
    problems.jsonl              problems after dedupe and decontamination (atomic)
    problems.json               counts per source and stage, duplicates, contamination hits
    generations/                the generation store (shards + manifest), resumes itself
    generations/verdicts.jsonl  keyed verdicts, appended as they finish, resume themselves

A rerun redoes only what is missing. A recipe whose sections changed since a stage was done
is refused, naming the stage and the sections, unless `rebuild` is set: then that stage and
every later one are redone (their artifacts are removed first, and only after every one of
them was checked to be ours: a refusal removes nothing).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from reasoning_distill.data_recipes.recipe import Recipe, resolve_path

from reasoning_distill.atomic import atomic_write_json, atomic_write_text
from reasoning_distill.errors import ConfigError, InputError, OutputError
from reasoning_distill.progress import Progress, ensure
from reasoning_distill.records import Problem

logger = logging.getLogger(__name__)

STAGES_FILE = "stages.json"
# Which recipe sections each stage depends on (a change redoes that stage and the later ones).
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "problems": ("sources", "mix_total", "prompt", "dedupe", "decontaminate"),
    "generate": ("teacher",),
    "verify": ("verify", "sources"),
    "write": ("select", "output"),
}
STAGE_ORDER = tuple(STAGE_SECTIONS)


@dataclass
class RecipeRun:
    """What a build did (or, for a dry run, would do)."""

    work: Path
    out: Path
    plan: dict[str, Any]
    stats: dict[str, Any] = field(default_factory=dict)
    done: bool = False


def work_dir_for(out: Path) -> Path:
    return out.with_name(out.name + ".work")


def _stage_hashes(recipe: Recipe) -> dict[str, str]:
    return {stage: recipe.stage_hash(*secs) for stage, secs in STAGE_SECTIONS.items()}


def _read_stages_file(work: Path) -> dict[str, Any]:
    path = work / STAGES_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise OutputError(
            f"{path}: unreadable ({e}); it is ours: delete it to start over"
        ) from None
    if not isinstance(data, dict):
        raise OutputError(f"{path}: not a stages record; delete it to start over")
    return data


def _read_stages(work: Path) -> dict[str, str]:
    """The hash each finished stage was built with."""
    return dict(_read_stages_file(work).get("stages", {}))


# What a stage began with when that is not known: a work folder from a build older than the
# `started` record, killed in that stage. A plain rerun resumes it (the stores refuse other
# settings themselves); `--rebuild` redoes it.
UNKNOWN = "unknown"
# Stages that keep what they finished when killed (samples, verdicts): an edit of the recipe
# after a kill would mix old and new results in them, so their start is what counts.
_PARTIAL = ("generate", "verify")


def _read_started(work: Path) -> dict[str, str]:
    """The hash each stage began with (a killed stage is recorded too, so an edit is seen)."""
    record = _read_stages_file(work)
    if "started" in record:
        return dict(record["started"])
    done = record.get("stages", {})
    return {st: UNKNOWN for st in STAGE_ORDER if st not in done and _has_artifacts(work, st)}


def _write_stages(work: Path, stages: dict[str, str], started: dict[str, str]) -> None:
    atomic_write_json(
        work / STAGES_FILE,
        {"written_by": "reasoning-distill", "stages": stages, "started": started},
    )


def _mark_started(work: Path, stage: str, digest: str) -> None:
    """Record the hash `stage` begins with; one already recorded is kept (an `UNKNOWN` stays
    until the stage finishes, so `--rebuild` can still redo it)."""
    record, started = _read_stages_file(work), _read_started(work)
    if stage not in started or "started" not in record:
        started.setdefault(stage, digest)
        _write_stages(work, _read_stages(work), started)


def _mark_done(work: Path, stage: str, digest: str) -> None:
    stages = _read_stages(work)
    stages[stage] = digest
    _write_stages(work, stages, {**_read_started(work), stage: digest})


# Files a generation store and its verdict store write (see generation/store.py, verdicts.py).
_VERDICT_FILES = ("verdicts.jsonl", "verdicts.manifest.json", ".verdicts.lock")


def _store_file(name: str) -> bool:
    from reasoning_distill.generation.store import FOLDER_LOCK, MANIFEST, SHARD_RE

    return (
        name == MANIFEST
        or name in _VERDICT_FILES
        or SHARD_RE.match(name) is not None
        or name.startswith((FOLDER_LOCK, ".samples-", f".{MANIFEST}.", ".verdicts."))
    )


def _removals(work: Path, first: str) -> list[Path]:
    """What `--rebuild` from stage `first` removes, each checked to be ours first.

    Raises `OutputError` (nothing removed) if any of it is not: a `generations/` without a
    store manifest, or holding files a store does not write; a `verdicts.jsonl` without the
    manifest our verdict store writes before its first verdict.
    """
    later = STAGE_ORDER[STAGE_ORDER.index(first) :]
    gen = work / "generations"
    targets: list[Path] = []
    if "problems" in later:
        targets += [work / n for n in ("problems.jsonl", "problems.json") if (work / n).exists()]
    keep_hint = "it is left untouched, and so is everything else: move it away and rerun"
    if "generate" in later and gen.exists():
        if not gen.is_dir() or gen.is_symlink():
            raise OutputError(f"{gen}: not a folder this command wrote; {keep_hint}")
        foreign = sorted(e.name for e in gen.iterdir() if not _store_file(e.name))
        if foreign or (any(gen.iterdir()) and not (gen / "manifest.json").is_file()):
            what = f"files it did not write ({', '.join(foreign[:5])})" if foreign else (
                "no manifest.json, so its samples are not ours"
            )  # fmt: skip
            raise OutputError(f"--rebuild would delete {gen}, which holds {what}; {keep_hint}")
        if (gen / "verdicts.jsonl").exists() and not (gen / "verdicts.manifest.json").exists():
            raise OutputError(
                f"--rebuild would delete {gen / 'verdicts.jsonl'}, which has no "
                f"verdicts.manifest.json, so it is not ours; {keep_hint}"
            )
        targets.append(gen)
    elif "verify" in later:
        verdicts = gen / "verdicts.jsonl"
        if verdicts.exists() and not (gen / "verdicts.manifest.json").is_file():
            raise OutputError(
                f"--rebuild would delete {verdicts}, which has no verdicts.manifest.json, so it "
                f"is not ours; {keep_hint}"
            )
        targets += [gen / n for n in _VERDICT_FILES[:2] if (gen / n).exists()]
    return targets


def _remove_from(work: Path, first: str) -> None:
    """Remove the artifacts (ours) of stage `first` and every later stage.

    Every target is checked before the first is removed: a refusal leaves everything.
    """
    later = STAGE_ORDER[STAGE_ORDER.index(first) :]
    for target in _removals(work, first):
        if target.is_dir():
            shutil.rmtree(target)  # a generation store: ours, by its manifest and its files
        else:
            target.unlink(missing_ok=True)
    stages = {k: v for k, v in _read_stages(work).items() if k not in later}
    started = {k: v for k, v in _read_started(work).items() if k not in later}
    _write_stages(work, stages, started)


def check_work_dir(work: Path, recipe: Recipe, rebuild: bool) -> str | None:
    """The first stage to redo because the recipe changed (None: nothing changed).

    Refuses a work folder that is not ours, and a changed recipe unless `rebuild`. A stage
    counts as built with the hash it finished with or, if it was interrupted, began with.
    With `rebuild`, what would be removed is checked to be ours here, before any work.
    """
    if work.exists() and not work.is_dir():
        raise OutputError(f"{work}: exists and is not a folder; choose another --out")
    ours = (STAGES_FILE, ".build.lock")
    if (
        work.is_dir()
        and any(e.name not in ours for e in work.iterdir())
        and not (work / STAGES_FILE).exists()
    ):
        raise OutputError(
            f"{work}: folder exists and was not written by rdistill build (no {STAGES_FILE}); "
            "it is left untouched: choose another --out or --work"
        )
    stored, started = _read_stages(work), _read_started(work)
    now = _stage_hashes(recipe)
    for stage in STAGE_ORDER:
        # problems and write are all-or-nothing (atomic): an interrupted one simply runs again
        built = stored.get(stage, started.get(stage) if stage in _PARTIAL else None)
        if built == UNKNOWN and not rebuild:
            continue  # resumable as it is; its store refuses other settings, naming --rebuild
        if built is not None and built != now[stage]:
            if not rebuild:
                state = "was built" if stage in stored else "was started (not finished)"
                raise ConfigError(
                    f"the recipe changed since stage {stage!r} {state} in {work} (sections "
                    f"{', '.join(STAGE_SECTIONS[stage])}): rerun with --rebuild to redo it and "
                    "the stages after it, or build into a new --out"
                )
            _removals(work, stage)  # refuses now, before any work, if any of it is not ours
            return stage
    return None


def _has_artifacts(work: Path, stage: str) -> bool:
    gen = work / "generations"
    if stage == "generate":
        return (gen / "manifest.json").exists()
    if stage == "verify":
        return (gen / "verdicts.manifest.json").exists()
    return False


# ---------------------------------------------------------------- stages


def _problems_stage(
    recipe: Recipe, root: Path, work: Path, progress: Progress
) -> tuple[list[Problem], dict]:
    from reasoning_distill.data_recipes.decontam import benchmark_texts, build_index, match_texts
    from reasoning_distill.data_recipes.dedupe import dedupe
    from reasoning_distill.data_recipes.sources import load_sources

    path, info_path = work / "problems.jsonl", work / "problems.json"
    if path.exists() and info_path.exists():
        problems = [
            Problem.from_dict(json.loads(line)) for line in path.read_text("utf-8").splitlines()
        ]
        return problems, json.loads(info_path.read_text("utf-8"))
    with ensure(progress).task("load sources", len(recipe.sources)) as task:
        problems, counts = load_sources(recipe, root)
        task.advance(len(recipe.sources))
    texts = [p.meta["question"] for p in problems]
    stages: dict[str, int] = {"problems loaded": len(problems)}
    dup_examples: list[dict] = []
    with ensure(progress).task("dedupe", len(problems)) as task:
        d = recipe.dedupe
        result = dedupe(
            texts,
            exact=d.exact,
            near=d.near is not None,
            **(
                {"threshold": d.near.threshold, "num_perm": d.near.num_perm, "ngram": d.near.ngram}
                if d.near
                else {}
            ),
        )
        task.advance(len(problems))
    for i, (kept, how) in sorted(result.dropped.items())[:20]:
        dup_examples.append({"dropped": problems[i].id, "kept": problems[kept].id, "kind": how})
    dropped_by = Counter(how for _, how in result.dropped.values())
    problems = [problems[i] for i in result.keep]
    stages["after dedupe"] = len(problems)
    contamination: dict[str, dict[str, Any]] = {}
    dc = recipe.decontaminate
    if dc.benchmarks:
        data_dir = str(resolve_path(dc.data_dir, root)) if dc.data_dir else None
        with ensure(progress).task("decontaminate", len(problems)) as task:
            index = build_index(
                {b: benchmark_texts(b, data_dir) for b in dc.benchmarks}, dc.ngram_sizes
            )
            hits = match_texts([p.meta["question"] for p in problems], index)
            task.advance(len(problems))
        bad = set()
        for h in hits:
            bad.add(h.index)
            c = contamination.setdefault(h.benchmark, {"count": 0, "examples": [], "_seen": set()})
            if h.index not in c["_seen"]:
                c["_seen"].add(h.index)
                c["count"] += 1
                if len(c["examples"]) < 5:
                    c["examples"].append(
                        {"problem_id": problems[h.index].id, "benchmark_id": h.benchmark_id,
                         "kind": h.kind, "text": problems[h.index].meta["question"][:300]}
                    )  # fmt: skip
        for c in contamination.values():
            del c["_seen"]
        problems = [p for i, p in enumerate(problems) if i not in bad]
    stages["after decontamination"] = len(problems)
    per_source = defaultdict(int)
    for p in problems:
        per_source[p.source] += 1
    for name in counts:
        counts[name]["kept"] = per_source.get(name, 0)
    info = {
        "stages": stages,
        "per_source": counts,
        "duplicates": {"by_kind": dict(dropped_by), "examples": dup_examples},
        "contamination": contamination,
        "benchmarks_checked": list(dc.benchmarks),
    }
    atomic_write_text(
        path, "".join(json.dumps(p.to_dict(), ensure_ascii=False) + "\n" for p in problems)
    )
    atomic_write_json(info_path, info)
    return problems, info


def _generate_stage(
    recipe: Recipe, problems: list[Problem], work: Path, root: Path, progress: Progress,
    engine_factory: Callable[[], Any] | None, rebuild: bool = False,
) -> dict[str, Any]:  # fmt: skip
    from reasoning_distill.data_recipes.teacher import make_teacher_engine, sampling_params

    from reasoning_distill.generation.job import run_generation
    from reasoning_distill.generation.store import MANIFEST, ManifestMismatchError, Store

    gen = work / "generations"
    params = sampling_params(recipe)
    want = {(p.id, i) for p in problems for i in range(params.n)}
    if (gen / MANIFEST).exists() and want <= Store(gen).done_keys():
        return {"samples": len(want), "generated_now": 0}

    def generate() -> Any:
        return run_generation(
            problems,
            engine,
            params,
            gen,
            progress=progress,
            system=recipe.prompt.system,
            store_format=recipe.teacher.format,
        )

    engine = engine_factory() if engine_factory else make_teacher_engine(recipe, root)
    try:
        try:
            summary = generate()
        except ManifestMismatchError as e:
            if not rebuild:
                raise ManifestMismatchError(
                    f"{e}\nIn a recipe build: rerun with --rebuild to generate again (the "
                    f"samples in {gen} are ours and are replaced), or restore the recipe."
                ) from None
            # made with other settings (the teacher's path, say) and --rebuild asked for
            # it: replaced, once everything that goes with it is checked to be ours
            logger.warning("%s was made with other settings: generating again", gen)
            _remove_from(work, "generate")
            _mark_started(work, "generate", _stage_hashes(recipe)["generate"])
            summary = generate()
    finally:
        engine.close()
    return {"samples": len(want), "summary": summary.to_dict()}


def verify_options(recipe: Recipe, source: str) -> Any:
    from reasoning_distill.verification import VerifyOptions

    v = recipe.verify_for(source)
    return VerifyOptions(
        check_format=v.format.enabled,
        require_think=v.format.require_think,
        include_think=v.math.include_think,
        unboxed=v.math.unboxed,
        math_timeout_s=v.math.timeout_s,
        code_timeout_s=v.code.timeout_s,
    )


def verdict_config(recipe: Recipe) -> dict:
    """What the verdict store records the verdicts were made with: each source's verifier
    options and judge. A judge's base_url may carry credentials; only its public form is kept."""
    from reasoning_distill.redact import public_options

    config = {src.name: verify_options(recipe, src.name).config() for src in recipe.sources}
    config["judge"] = {
        src.name: (judge := recipe.verify_for(src.name).judge)
        and public_options(judge.model_dump())
        for src in recipe.sources
    }
    return config


def _verify_stage(
    recipe: Recipe, work: Path, progress: Progress, workers: int | None, rebuild: bool = False
) -> dict:
    from reasoning_distill.data_recipes.judge import judge_records

    from reasoning_distill.verification import (
        VerdictStore,
        item_of,
        iter_store,
        read_store,
        verify_into,
    )

    gen = work / "generations"
    config = verdict_config(recipe)
    # A judge looks samples up by key, so it needs them listed; else each source's samples
    # stream from the shards and memory holds only the work in flight.
    judged = any(recipe.verify_for(src.name).judge for src in recipe.sources)
    samples = read_store(gen) if judged else None

    def items_of(source: str) -> Iterator[Any]:
        for s in samples if samples is not None else iter_store(gen):
            if str((s.meta or {}).get("source") or "") == source:
                yield item_of(s)

    n, grade, ray = 0, None, recipe.verify.ray
    if ray is not None:  # the same verifiers in Ray actors; this driver writes every verdict
        from reasoning_distill.verification.ray_verify import ray_grader

        code = [recipe.verify_for(x.name).code for x in recipe.sources if x.kind == "code"]
        weak = all(c.allow_weak_sandbox for c in code)  # each node checks its own sandbox
        grade = ray_grader(address=ray.address, num_actors=ray.actors, allow_weak_sandbox=weak)
    redo_hint = "rerun with --rebuild to verify every sample again, or restore the recipe"
    # under --rebuild, verdicts made with other options (ours, by their manifest) are redone
    with VerdictStore.open(gen, config, redo=rebuild, redo_hint=redo_hint) as store:
        for src in recipe.sources:
            judge = recipe.verify_for(src.name).judge
            run = verify_into(
                store,
                items_of(src.name),
                verify_options(recipe, src.name),
                workers=workers,
                progress=progress,
                judge=partial(judge_records, samples=samples, judge=judge) if judge else None,
                grade=grade,
            )
            n += run.written
    return {"verified_now": n}


def _dataset_stage(
    recipe: Recipe, work: Path, out: Path, info: dict, recipe_text: str | None,
    progress: Progress | None = None,
) -> dict:  # fmt: skip
    from reasoning_distill.data_recipes.dataset import build_dataset
    from reasoning_distill.data_recipes.select import SelectPolicy

    sel = recipe.select
    policy = SelectPolicy(
        keep=sel.keep,
        k=sel.k,
        choose=sel.choose,
        seed=sel.seed,
        min_pass_rate=sel.pass_rate.min,
        max_pass_rate=sel.pass_rate.max,
        max_tokens=sel.max_tokens,
    )
    card = {
        "title": recipe.output.title or f"{recipe.name} (reasoning-distill)",
        "description": recipe.description,
        "stages": dict(info.get("stages", {})),
        "contamination": info.get("contamination", {}),
        "benchmarks_checked": info.get("benchmarks_checked", []),
        "duplicates": info.get("duplicates", {}),
        "recipe": recipe_text or json.dumps(recipe.model_dump(mode="json"), indent=2),
        "teacher": {"engine": recipe.teacher.engine, "model": recipe.teacher.model,
                    "sampling": recipe.teacher.sampling.model_dump()},
    }  # fmt: skip
    result = build_dataset(
        work / "generations",
        out,
        policy,
        answer_only=sel.answer_only,
        card=card,
        parquet=recipe.output.parquet,
        progress=progress,
    )
    if recipe.output.push_to_hub is not None:
        from reasoning_distill.data_recipes.hub import push_dataset

        push_dataset(out, recipe.output.push_to_hub)
    return result.stats


def _inside(a: Path, b: Path) -> bool:
    """Whether `a` is `b` or lies under it, symlinks resolved."""
    a, b = a.resolve(), b.resolve()
    return a == b or b in a.parents


def check_apart(out: Path, work: Path, recipe: Recipe, root: Path) -> None:
    """Refuse a work folder and an output that overlap, or an input inside either.

    The write stage replaces the whole output folder, and `--rebuild` removes stores in the
    work folder: whatever lies inside them would go (a work folder, a source file).
    """
    if _inside(work, out) or _inside(out, work):
        how = (
            "are the same folder"
            if out.resolve() == work.resolve()
            else ("lies inside" if _inside(work, out) else "holds")
        )  # fmt: skip
        raise ConfigError(
            f"--work {work} {how} the output {out}: the write stage replaces the output "
            "folder, so the two must be apart; choose a --work outside it (the default is "
            f"{work_dir_for(out)})"
        )
    inputs = [(f"sources.{i}.path", s.path) for i, s in enumerate(recipe.sources) if s.path]
    inputs += [("decontaminate.data_dir", recipe.decontaminate.data_dir)]
    inputs += [("prompt.chat_template", recipe.prompt.chat_template)]
    for key, value in inputs:
        if value is None:
            continue
        path = resolve_path(value, root)
        for name, folder in (("output", out), ("work folder", work)):
            if _inside(path, folder):
                raise ConfigError(
                    f"{key}: {path} lies inside the {name} {folder}, which the build replaces "
                    "or cleans; move it out of there"
                )


def check_inputs(recipe: Recipe, root: Path) -> None:
    """What a build needs from disk and can be checked without a model, checked now.

    Local source files, the chat template, the decontamination folder and the sampling
    settings: a mistake is refused before generation, and by `--dry-run`.
    """
    from reasoning_distill.data_recipes.recipe import chat_template_path
    from reasoning_distill.data_recipes.teacher import sampling_params

    for i, src in enumerate(recipe.sources):
        if src.path is not None and not resolve_path(src.path, root).exists():
            raise InputError(
                f"sources.{i}.path: source {src.name!r}: no such file or folder "
                f"{resolve_path(src.path, root)}"
            )
    chat_template_path(recipe.prompt, root)
    dc = recipe.decontaminate
    if dc.data_dir is not None and dc.benchmarks:
        from reasoning_distill.eval.benchmarks import get_benchmark

        data_dir = resolve_path(dc.data_dir, root)
        if not data_dir.exists():
            raise InputError(f"decontaminate.data_dir: no such folder {data_dir}")
        for name in dc.benchmarks:
            b = get_benchmark(name)
            if b.rows is None and data_dir.is_dir() and not (data_dir / b.local_file).is_file():
                raise InputError(
                    f"decontaminate.data_dir: {data_dir} has no {b.local_file} (benchmark "
                    f"{name!r}); put the file there or drop the benchmark"
                )
    try:
        sampling_params(recipe)
    except ConfigError as e:
        raise ConfigError(f"teacher.sampling.{e}") from None


def plan(
    recipe: Recipe, root: Path, out: Path, work: Path, *, estimate_costs: bool = True,
    workers: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """What a build would do, without loading a model (sources are read to count rows),
    with its estimated cost on this machine (`estimate.estimate`) unless `estimate_costs`
    is off."""
    from reasoning_distill.data_recipes.sources import load_source

    sources = []
    total = 0
    uncounted = []  # Hub sources it could not read (no network, a wrong id): not in `total`
    for src in recipe.sources:
        origin = (
            f"hf:{src.hf.id}" if src.hf else (f"toy:{src.toy.kind}" if src.toy else str(resolve_path(src.path, root)))
        )  # fmt: skip
        try:
            rows: int | str = len(load_source(src, recipe, root))
            total += rows
        except Exception as e:  # noqa: BLE001 - the plan reports a Hub source it cannot read
            if src.hf is None:
                raise  # a local source (a file, the toy world) the build could not read either
            rows = f"unavailable ({e})"  # the loader's message, its advice included
            uncounted.append(src.name)
        sources.append(
            {
                "name": src.name,
                "origin": origin,
                "kind": src.kind,
                "problems": rows,
                "weight": src.weight,
            }
        )
    if recipe.mix_total is not None:
        total = recipe.mix_total
    s = recipe.teacher.sampling
    stored = _read_stages(work)
    out_plan = {
        "recipe": recipe.name,
        "sources": sources,
        "problems before dedupe": total,
        "dedupe": recipe.dedupe.model_dump(),
        "decontaminate against": recipe.decontaminate.benchmarks,
        "teacher": f"{recipe.teacher.engine}:{recipe.teacher.model}",
        "generation budget": {
            "samples": total * s.n,
            "max new tokens": total * s.n * s.max_tokens,
            "n per problem": s.n,
        },
        "select": recipe.select.model_dump(),
        "output": str(out),
        "work": str(work),
        "stages done": [st for st in STAGE_ORDER if st in stored],
    }
    if uncounted:
        out_plan["uncounted sources"] = uncounted
    if estimate_costs:
        from reasoning_distill.data_recipes.estimate import estimate

        kinds = {src.toy.kind if src.toy else src.kind for src in recipe.sources}
        out_plan["estimate"] = estimate(
            total, s.n, s.max_tokens, kinds=kinds, parquet=recipe.output.parquet, workers=workers
        )
        if uncounted:
            out_plan["estimate"]["note"] += f"; {', '.join(uncounted)} could not be read, so " + (
                "the figures assume the mix's total can be drawn without it"
                if recipe.mix_total is not None
                else "the figures count only the other sources (a lower bound)"
            )
    return out_plan


def run_recipe(
    recipe: Recipe,
    *,
    root: str | Path,
    out: str | Path | None = None,
    work: str | Path | None = None,
    dry_run: bool = False,
    rebuild: bool = False,
    progress: Progress | None = None,
    workers: int | None = None,
    recipe_text: str | None = None,
    engine_factory: Callable[[], Any] | None = None,
    until: str = "write",
) -> RecipeRun:
    """Build the recipe's dataset (see the module docstring). `engine_factory` replaces the
    teacher engine the recipe names (the demo passes its own); `until` stops after that
    stage (a later call resumes from there)."""
    if until not in STAGE_ORDER:
        raise ValueError(f"until must be one of {STAGE_ORDER}, got {until!r}")
    from reasoning_distill.data_recipes.messages import check_output_dir

    root = Path(root)
    out = Path(out) if out is not None else resolve_path(recipe.output.dir, root)
    work = Path(work) if work is not None else work_dir_for(out)
    check_apart(out, work, recipe, root)
    check_output_dir(out)
    first_changed = check_work_dir(work, recipe, rebuild)
    check_inputs(recipe, root)
    if dry_run:
        return RecipeRun(work, out, plan(recipe, root, out, work, workers=workers))
    work.mkdir(parents=True, exist_ok=True)
    lock = _lock_work(work)
    try:
        first_changed = check_work_dir(work, recipe, rebuild)  # again, now that it is ours
        return _run_stages(
            recipe, root, out, work, first_changed, rebuild, progress, workers, recipe_text,
            engine_factory, until,
        )  # fmt: skip
    finally:
        lock.close()


def _lock_work(work: Path) -> Any:
    """One build per work folder: a second is refused at once, not when the stores collide."""
    import fcntl

    fh = open(work / ".build.lock", "a")  # noqa: SIM115 - held for the whole build
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise OutputError(
            f"{work}: another rdistill build is running on this folder; wait for it to finish"
        ) from None
    return fh


def _run_stages(
    recipe: Recipe, root: Path, out: Path, work: Path, first_changed: str | None,
    rebuild: bool, progress: Progress | None, workers: int | None, recipe_text: str | None,
    engine_factory: Callable[[], Any] | None, until: str,
) -> RecipeRun:  # fmt: skip
    if not (work / STAGES_FILE).exists():
        _write_stages(work, {}, {})
    if first_changed is not None:
        logger.warning("recipe changed: rebuilding from stage %s", first_changed)
        _remove_from(work, first_changed)
    hashes = _stage_hashes(recipe)
    progress = ensure(progress)
    timings: dict[str, float] = {}
    stats: dict[str, Any] = {"timings_s": timings}

    def timed(stage: str, run: Callable[[], Any]) -> Any:
        """Run one stage between its started and done marks, timing it."""
        t0 = time.perf_counter()
        _mark_started(work, stage, hashes[stage])
        result = run()
        _mark_done(work, stage, hashes[stage])
        timings[stage] = round(time.perf_counter() - t0, 3)
        return result

    problems, info = timed("problems", lambda: _problems_stage(recipe, root, work, progress))
    if not problems:
        raise ConfigError("no problems left after dedupe and decontamination: nothing to generate")
    stats["problems"] = info
    if until == "problems":
        return RecipeRun(work, out, plan={}, stats=stats)
    stats["generate"] = timed(
        "generate",
        lambda: _generate_stage(recipe, problems, work, root, progress, engine_factory, rebuild),
    )
    if until == "generate":
        return RecipeRun(work, out, plan={}, stats=stats)
    stats["verify"] = timed(
        "verify", lambda: _verify_stage(recipe, work, progress, workers, rebuild)
    )
    if until == "verify":
        return RecipeRun(work, out, plan={}, stats=stats)
    stats["write"] = timed(
        "write", lambda: _dataset_stage(recipe, work, out, info, recipe_text, progress)
    )
    return RecipeRun(work, out, plan={}, stats=stats, done=True)
