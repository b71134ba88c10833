"""Evaluate models on benchmarks under one protocol: sample, verify, score, write results.json.

Per model, under `out/<model>/`:
- `generations/<key>/`: the sample store (content-keyed, resumable; see `eval.cache`), and
  beside its shards `verdicts-<verifier version>.jsonl`: the verdicts, in the one verdict
  record format of `reasoning_distill.verification` (keyed by the stored sample);
- `results.json`: one envelope (format, manifest, per-problem results, metrics, warnings),
  written atomically.
With a teacher and at least one student, `out/gap/` holds the teacher-gap report.
"""

from __future__ import annotations

import logging
import sys
from array import array
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reasoning_distill.atomic import atomic_write_json
from reasoning_distill.errors import UserError
from reasoning_distill.generation.engine import SamplingParams
from reasoning_distill.progress import Progress
from reasoning_distill.records import Problem

logger = logging.getLogger(__name__)

EVAL_MARKER = "rdistill-eval.json"
# Bump when scoring changes (what counts as correct, how answers are compared): cached
# verdicts stamped with another version are recomputed from the stored samples.
# 2: the format check no longer demands a box of a math answer the answer markers found.
SCORING_VERSION = 2
DEFAULT_MAX_TOKENS = 2048


class IncompleteEvaluation(UserError):
    """A benchmark ended with fewer samples than the protocol asks for."""


@dataclass(frozen=True)
class EvalProtocol:
    """The sampling and engine settings every evaluated model gets.

    `sampling` holds the sampling settings (n, temperature, ..., seed) every benchmark gets;
    `max_tokens` is the token budget of every benchmark, None for each benchmark's own
    (`Benchmark.max_tokens`), and replaces `sampling.max_tokens` per benchmark (see
    `sampling_for`). `engine_options` are the engine constructor's options (dtype,
    tensor/data parallel...). `check_format` and `require_think` are the format policy of
    the verdicts (`rdistill verify`'s `--no-check-format` and `--no-think`): with the defaults a
    completion must close a think block and not be cut off before its answer is looked at.
    """

    sampling: SamplingParams = field(
        default_factory=lambda: SamplingParams(n=4, max_tokens=DEFAULT_MAX_TOKENS, seed=1234)
    )
    max_tokens: int | None = None
    engine: str = "hf"
    system: str | None = None
    engine_options: Mapping[str, Any] = field(default_factory=dict)
    check_format: bool = True
    require_think: bool = True

    def __post_init__(self) -> None:
        if self.max_tokens is not None:
            self.sampling_for(self.max_tokens)  # a ConfigError on a bad budget

    @property
    def n(self) -> int:
        return self.sampling.n

    @property
    def verify_options(self):
        """The options every verdict of this protocol is made with."""
        from reasoning_distill.verification import VerifyOptions

        return VerifyOptions(check_format=self.check_format, require_think=self.require_think)

    def sampling_for(self, max_tokens: int) -> SamplingParams:
        """The `SamplingParams` of a benchmark whose token budget is `max_tokens`."""
        return replace(self.sampling, max_tokens=max_tokens)

    def to_dict(self) -> dict[str, Any]:
        s = self.sampling
        return {
            "n": s.n,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": self.max_tokens,
            "seed": s.seed,
            "engine": self.engine,
            "top_k": s.top_k,
            "min_p": s.min_p,
            "stop": list(s.stop),
            "system": self.system,
            "engine_options": dict(self.engine_options),
            "check_format": self.check_format,
            "require_think": self.require_think,
        }


@dataclass
class BenchmarkRun:
    """One benchmark as evaluated: its registry entry (None for ad hoc problems), problems,
    token budget and where its data came from."""

    name: str
    problems: Sequence[Problem]
    max_tokens: int
    benchmark: Any = None
    origin: str | None = None


def format_policy(check_format: bool = True, require_think: bool = True) -> str:
    """The format policy in words, as the manifest and the reports state it."""
    if not check_format:
        return "no format check: the answer alone decides"
    if not require_think:
        return "check_format without a think block: no truncation, one answer"
    return "check_format: a closed think block and no truncation, then the answer"


def verifier_config(check_format: bool = True, require_think: bool = True) -> dict[str, Any]:
    """What decides a verdict; its hash is the verifier version the verdict cache keys on."""
    from reasoning_distill.eval.manifest import digest, package_version

    config = {
        "verifier": "reasoning_distill.verification.verify_samples",
        "scoring_version": SCORING_VERSION,
        "format": format_policy(check_format, require_think),
        "math": "math-verify equivalence of the last \\boxed{} answer (else an answer marker "
        "such as ####) with the gold",
        "code": "every test passes in the sandbox",
        "math_verify": package_version("math-verify"),
        "reasoning_distill": package_version("reasoning-distill"),
    }
    return {**config, "version": digest(config)}


def _as_runs(benchmarks: Mapping[str, Any], protocol: EvalProtocol) -> list[BenchmarkRun]:
    from reasoning_distill.eval.benchmarks import REGISTRY

    runs = []
    for name, value in benchmarks.items():
        if isinstance(value, BenchmarkRun):
            runs.append(value)
        elif isinstance(value, tuple):  # (Benchmark, problems, max_tokens, origin)
            b, problems, budget, origin = value
            runs.append(BenchmarkRun(name, problems, budget, b, origin))
        else:
            b = REGISTRY.get(name)
            budget = protocol.max_tokens or (b.max_tokens if b else DEFAULT_MAX_TOKENS)
            runs.append(BenchmarkRun(name, list(value), budget, b, None))
    return runs


def benchmark_manifest(run: BenchmarkRun) -> dict[str, Any]:
    from reasoning_distill.eval.manifest import digest, text_entry

    b = run.benchmark
    data = [[p.id, p.prompt, p.gold] for p in run.problems]
    entry: dict[str, Any] = {
        "id": b.name if b else run.name,
        "version": b.version if b else "ad hoc",
        "source": b.source if b else "problems given directly",
        "origin": run.origin,
        "data_sha256": digest(data, 64),
        "n_problems": len(run.problems),
        "max_tokens": run.max_tokens,
        "prompt_template": text_entry(b.prompt_template if b else None),
    }
    if b:
        entry.update(answer_extraction=b.answer_format, scoring=b.metric, kind=b.kind)
    return entry


def effective_engine_options(engine: Any, given: Mapping[str, Any]) -> dict[str, Any]:
    """The options the engine ran with: its constructor's defaults, overridden by `given`, and
    by the engine's own attribute of that name where it keeps one (so a run that left dtype
    at its default and one that named it agree, and an engine built by hand is described)."""
    import inspect

    opts: dict[str, Any] = {}
    try:
        params = inspect.signature(type(engine).__init__).parameters.items()
    except (TypeError, ValueError):
        params = ()
    for key, p in params:
        if key in ("self", "model") or p.default is inspect.Parameter.empty:
            continue
        if isinstance(p.default, str | int | float | bool) or p.default is None:
            opts[key] = p.default
    opts.update(given)
    for key in list(opts):
        # What the engine holds beats what it was told: callers may build engines directly.
        value = getattr(engine, key, opts[key])
        if isinstance(value, str | int | float | bool) or value is None:
            opts[key] = value
    return opts


def build_manifest(
    identity: dict[str, Any],
    engine: Any,
    protocol: EvalProtocol,
    runs: Sequence[BenchmarkRun],
    verifier: dict[str, Any],
) -> dict[str, Any]:
    """The protocol manifest of one model's evaluation."""
    from reasoning_distill.eval.manifest import (
        MANIFEST_VERSION,
        engine_version,
        software_versions,
        text_entry,
    )

    from reasoning_distill.redact import public_options

    tokenizer = getattr(engine, "tokenizer", None)
    template = getattr(tokenizer, "chat_template", None)
    sampling = protocol.sampling_for(DEFAULT_MAX_TOKENS).to_dict()
    sampling.pop("max_tokens")  # per benchmark, below
    sampling.pop("logprobs", None)
    return {
        "manifest_version": MANIFEST_VERSION,
        "model": identity,
        "engine": {
            "name": protocol.engine,
            "version": engine_version(protocol.engine),
            # No credential a --base-url carried reaches results.json.
            "options": public_options(effective_engine_options(engine, protocol.engine_options)),
        },
        "sampling": sampling,
        "system_prompt": text_entry(protocol.system),
        "chat_template": text_entry(template if isinstance(template, str) else None),
        "verifier": verifier,
        "software": software_versions(),
        "benchmarks": {r.name: benchmark_manifest(r) for r in runs},
    }


def _problem_meta(p: Problem) -> dict[str, Any]:
    keep = ("level", "subject", "difficulty", "contest_date", "platform")
    return {k: p.meta[k] for k in keep if isinstance(p.meta, dict) and k in p.meta}


@dataclass(slots=True)
class StoredSamples:
    """What scoring needs of a run's stored samples, flat (the texts stay in the store): the
    sample `i` of the row of prompt key `k` is at `slot[k] * n + i`. About 16 bytes a sample
    and 100 a distinct prompt; problems sharing a prompt share its row."""

    n: int  # samples per problem
    slot: dict[str, int]  # prompt key -> its row (rows in the keys' first order)
    row_of: array  # problem j -> its row ('q')
    judge: array  # row -> its first problem, whose kind and gold judge its samples ('q')
    tokens: array  # completion tokens, flat ('q')
    finish: list[str | None]  # finish reasons, flat (interned)
    odd_golds: dict[int, Any]  # flat position -> the gold a sample was made for, where that
    # is not its row's first problem's gold


def _stored_samples(folder: Path, keys: Container[str]) -> Any:
    """The samples of `folder` whose problem key is in `keys`, streamed from its shards."""
    from reasoning_distill.errors import InputError
    from reasoning_distill.generation.store import MANIFEST, Store

    if not (folder / MANIFEST).exists():
        raise InputError(f"{folder}: no {MANIFEST}; not a generation output folder")
    return (s for s in Store(folder).read() if s.problem_id in keys)


def _generate(engine, run: BenchmarkRun, protocol, identity_key: str, root: Path, progress):
    """Samples of every problem of `run`, from the cache where present, as `StoredSamples`
    (the texts are streamed from the store when verified)."""
    from reasoning_distill.eval.cache import CONTENT_KEYED, generation_folder, prompt_key

    from reasoning_distill.generation.job import run_generation

    params = protocol.sampling_for(run.max_tokens)
    folder = generation_folder(root, identity_key, engine.name, str(engine.model), params.to_dict())
    keys = [prompt_key(p, protocol.system) for p in run.problems]
    keyed: dict[str, Problem] = {}
    for key, p in zip(keys, run.problems, strict=True):
        keyed.setdefault(key, Problem(key, p.prompt, p.gold, p.kind, p.source, dict(p.meta)))
    run_generation(
        list(keyed.values()),
        engine,
        params,
        folder,
        progress=progress,
        system=protocol.system,
        input_hash=CONTENT_KEYED,
        chunk_size=16,
    )
    return folder, stored_rows(run, folder, keys, protocol.n)


def stored_rows(run: BenchmarkRun, folder: Path, keys: Sequence[str], n: int) -> StoredSamples:
    """`StoredSamples` of `run` (problem j stored under `keys[j]`, samples 0..n-1), streamed
    from the store at `folder`; `IncompleteEvaluation` if a sample is missing."""
    if len(keys) != len(run.problems):
        raise ValueError("one prompt key per problem")
    slot: dict[str, int] = {}
    row_of, judge = array("q"), array("q")
    for j, key in enumerate(keys):
        r = slot.setdefault(sys.intern(key), len(slot))
        if r == len(judge):
            judge.append(j)
        row_of.append(r)
    size = len(slot) * n
    rows = StoredSamples(n, slot, row_of, judge, array("q", bytes(8 * size)), [None] * size, {})
    seen = bytearray(size)
    for s in _stored_samples(folder, slot):
        r, i = slot[s.problem_id], s.sample_index
        at = r * n + i
        if i < n and not seen[at]:  # the first copy of a sample wins
            seen[at] = 1
            rows.tokens[at] = int(s.completion_tokens)
            rows.finish[at] = sys.intern(s.finish_reason)
            if s.gold != run.problems[judge[r]].gold:
                rows.odd_golds[at] = s.gold
    for p, r in zip(run.problems, row_of, strict=True):
        have = sum(seen[r * n : (r + 1) * n])
        if have < n:
            raise IncompleteEvaluation(
                f"{run.name}: problem {p.id!r} has {have} of {n} "
                f"samples (store {folder}); rerun the same command to resume"
            )
    return rows


@dataclass(frozen=True, slots=True)
class _Verdict:
    """What scoring needs of one verdict (the stored record keeps its details)."""

    correct: bool
    reason: str
    format_decided: bool  # the format check, not the answer, decided it
    extracted: str | None


def _compact(rec: Any, shared: dict, decided_by: str) -> _Verdict:
    v = _Verdict(
        bool(rec.correct),
        sys.intern(str(rec.reason)),
        (rec.details or {}).get(decided_by) == "format",
        rec.extracted,
    )
    return shared.setdefault(v, v)  # equal verdicts are one object


def verify_rows(
    run: BenchmarkRun, folder: Path, samples, verifier: dict, options, workers, progress, grade
) -> list[_Verdict]:
    """Verdicts of `samples` (`stored_rows`), flat as its samples are, computing only those
    not stored beside the samples.

    A stored verdict counts only for a sample made for the same gold (a corrected gold is
    re-verified, not looked up, and its verdict is not stored). The samples to verify are
    streamed from the store, each judged by its first problem's kind and gold. `grade` is
    `verify_into`'s (None: the local verifiers; `ray_verify.ray_grader`: Ray actors). The
    verdicts are held as small shared `_Verdict`s, read back from the store once written.
    """
    from reasoning_distill.generation.store import read_provenance
    from reasoning_distill.verification import VerdictStore, item_of, verify_into
    from reasoning_distill.verification.runner import DECIDED_BY
    from reasoning_distill.verification.verdicts import iter_records

    name = f"verdicts-{verifier['version']}"
    n, slot, problems = samples.n, samples.slot, run.problems
    keys = list(slot)  # by row
    stale: set[tuple[str, int]] = set()
    for p, r in zip(problems, samples.row_of, strict=True):
        first = problems[samples.judge[r]].gold
        for at in range(r * n, (r + 1) * n):
            if samples.odd_golds.get(at, first) != p.gold:
                stale.add((keys[r], at - r * n))

    def judge(pid: str) -> Problem:
        return problems[samples.judge[slot[pid]]]

    shared: dict[_Verdict, _Verdict] = {}
    found: list[_Verdict | None] = [None] * (len(keys) * n)
    with VerdictStore.open(folder, verifier, name=name) as store:
        items = (
            item_of(s, kind=judge(s.problem_id).kind, gold=judge(s.problem_id).gold)
            for s in _stored_samples(folder, slot)
            if s.sample_index < n
        )
        made = verify_into(
            store,
            items,
            workers=None if grade else workers,
            progress=progress,
            options=options,
            grade=grade,
            gold_changed=lambda it: it.key in stale,
            verifier=lambda kind: f"format+{kind}" if options.check_format else kind,
            keep_records=False,
        )
        if made.written:
            logger.info("%s: verified %d samples", run.name, made.written)
        for (pid, i), rec in made.records.items():  # gold changed: returned, not stored
            found[slot[pid] * n + i] = _compact(rec, shared, DECIDED_BY)
        for rec in iter_records(store.path, read_provenance(folder)):
            pid, i = rec.key
            r = slot.get(pid)
            if r is not None and i < n and found[r * n + i] is None:  # a key's first record
                found[r * n + i] = _compact(rec, shared, DECIDED_BY)
    return found


class ProblemResult(Mapping[str, Any]):
    """One problem's record in `results.json`, read as the dict it is written as (`id`,
    `correct`, `reasons`, `format_decided`, `answers`, `tokens`, `finish`, `meta`).

    Holds its place in the run's flat `StoredSamples` and verdicts, not a list per field:
    about 70 bytes a problem and 16 a sample, where the dict takes about 200 a sample. The
    lists are made when a field is read; `json_default` writes it as that dict.
    """

    __slots__ = ("id", "_samples", "_verdicts", "_row", "_meta")
    _KEYS = ("id", "correct", "reasons", "format_decided", "answers", "tokens", "finish", "meta")

    def __init__(self, pid: str, samples: StoredSamples, verdicts: list, row: int, meta) -> None:
        self.id, self._samples, self._verdicts, self._row = pid, samples, verdicts, row
        self._meta = meta

    def __getitem__(self, key: str) -> Any:
        if key == "id":
            return self.id
        if key == "meta":
            return dict(self._meta)
        n = self._samples.n
        at = slice(self._row * n, (self._row + 1) * n)
        if key == "tokens":
            return self._samples.tokens[at].tolist()
        if key == "finish":
            return self._samples.finish[at]
        vs = self._verdicts[at]
        if key == "correct":
            return [v.correct for v in vs]
        if key == "reasons":
            return [v.reason for v in vs]
        if key == "format_decided":
            return [v.format_decided for v in vs]
        if key == "answers":
            return [v.extracted for v in vs]
        raise KeyError(key)

    def __iter__(self):
        return iter(self._KEYS)

    def __len__(self) -> int:
        return len(self._KEYS)

    def __repr__(self) -> str:
        return f"ProblemResult({dict(self)!r})"


_NO_META: dict[str, Any] = {}  # shared by every problem without meta; never written to


def json_default(o: Any) -> Any:
    """`json.dump`'s `default`: a `ProblemResult` as its dict, one record at a time."""
    if isinstance(o, ProblemResult):
        return dict(o)
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def scored_records(run: BenchmarkRun, samples: StoredSamples, verdicts: list) -> list:
    """The per-problem records (`ProblemResult`) `results.json` keeps and the metrics are
    computed from, over `samples` and its flat `verdicts`."""
    if len(samples.row_of) != len(run.problems) or len(verdicts) != len(samples.finish):
        raise ValueError("samples of another run, or verdicts of other samples")
    if any(v is None for v in verdicts):
        raise ValueError("a sample without a verdict")
    return [
        ProblemResult(p.id, samples, verdicts, r, _problem_meta(p) or _NO_META)
        for p, r in zip(run.problems, samples.row_of, strict=True)
    ]


def evaluate_model(
    engine,
    benchmarks: Mapping[str, Any],
    protocol: EvalProtocol,
    out_dir: str | Path,
    workers: int | None = None,
    progress: Progress | None = None,
    *,
    name: str | None = None,
    identity: dict[str, Any] | None = None,
    grade: Any = None,
) -> dict[str, dict[str, list[bool]]]:
    """Evaluate one model; write `out_dir/results.json`; return {benchmark: {problem: [bool]}}.

    `benchmarks` maps a name to a `BenchmarkRun`, or to a list of `Problem`s (then the registry
    entry of that name, if any, names the version and token budget). `identity` is the model's
    manifest entry (`eval.models.model_identity`; default: computed from `engine.model`).
    `grade` scores the samples (a `verification.Grader`: `ray_verify.ray_grader` for Ray
    actors; default the local verifiers); the verdicts, stored and resumed, are the same.
    """
    from reasoning_distill.eval.manifest import digest
    from reasoning_distill.eval.models import identity_digest, model_identity
    from reasoning_distill.eval.scoring import benchmark_metrics, math_equivalence

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = _as_runs(benchmarks, protocol)
    identity = identity or model_identity(str(engine.model), protocol.engine)
    verifier = verifier_config(protocol.check_format, protocol.require_think)
    manifest = build_manifest(identity, engine, protocol, runs, verifier)
    # The template shapes every prompt: two tokenizers with one weight file are two models here.
    id_key = digest([identity_digest(identity), manifest["chat_template"]])
    envelope: dict[str, Any] = {
        "format": "rdistill-eval-results",
        "format_version": 1,
        "model": {"name": name or out_dir.name, "path": str(engine.model)},
        "manifest": manifest,
        "benchmarks": {},
        "warnings": [],
    }
    plain: dict[str, dict[str, list[bool]]] = {}
    for run in runs:
        folder, samples = _generate(
            engine, run, protocol, id_key, out_dir / "generations", progress
        )
        verdicts = verify_rows(
            run, folder, samples, verifier, protocol.verify_options, workers, progress, grade
        )
        records = scored_records(run, samples, verdicts)
        kind = (
            run.benchmark.kind if run.benchmark else (run.problems[0].kind if run.problems else "")
        )
        metrics, warnings = benchmark_metrics(
            run.name, kind, records, protocol.n, math_equivalence(workers)
        )
        envelope["benchmarks"][run.name] = {"metrics": metrics, "problems": records}
        envelope["warnings"] += warnings
        plain[run.name] = {r["id"]: r["correct"] for r in records}
    for w in envelope["warnings"]:
        logger.warning("%s", w)
    atomic_write_json(out_dir / "results.json", envelope, allow_nan=False, default=json_default)
    return plain


@dataclass
class EvalOutcome:
    results: dict[str, Path]
    warnings: list[str]
    summary_markdown: str
    gap_dir: Path | None


def evaluate_models(
    models: Mapping[str, str],
    benchmarks: Mapping[str, Any],
    protocol: EvalProtocol,
    out: str | Path,
    *,
    teacher: str | None = None,
    workers: int | None = None,
    allow_mismatch: bool = False,
    progress: Progress | None = None,
    grade: Any = None,
) -> EvalOutcome:
    """Evaluate each model in turn (one engine at a time), then the gap report with a teacher.

    `grade` is `evaluate_model`'s (scoring in Ray actors with `ray_verify.ray_grader`)."""
    from reasoning_distill.eval.gap import build_gap, write_gap
    from reasoning_distill.eval.models import model_identity
    from reasoning_distill.eval.results import load_results, summary_markdown

    from reasoning_distill.generation.factory import make_engine

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    marker = out / EVAL_MARKER
    if not marker.exists():
        atomic_write_json(marker, {"written_by": "rdistill eval", "models": list(models)})
    paths: dict[str, Path] = {}
    warnings: list[str] = []
    for name, path in models.items():
        identity = model_identity(path, protocol.engine)
        engine = make_engine(protocol.engine, path, **dict(protocol.engine_options))
        try:
            evaluate_model(
                engine,
                benchmarks,
                protocol,
                out / name,
                workers=workers,
                progress=progress,
                name=name,
                identity=identity,
                grade=grade,
            )
        finally:
            engine.close()
        paths[name] = out / name / "results.json"
    loaded = {name: load_results(p) for name, p in paths.items()}
    for env in loaded.values():
        warnings += env.get("warnings", [])
    gap_dir = None
    if teacher is not None:
        students = {n: e for n, e in loaded.items() if n != teacher}
        gap = build_gap(loaded[teacher], students, allow_mismatch=allow_mismatch)
        gap_dir = write_gap(gap, out / "gap")
    return EvalOutcome(paths, warnings, summary_markdown(loaded), gap_dir)
