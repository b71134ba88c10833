"""One function builds a dataset from a generation store plus its verdicts: `build_dataset`.

`rdistill build`, the recipes and the demo all call it. Each row is `messages` (every prompt
turn the teacher saw, system included, then the assistant turn `<think>reasoning</think>`
and the answer, so TRL's `SFTTrainer` and open-r1 read it unchanged) plus metadata columns:
source, problem_id, sample_index, kind, verdict, correct, judged, verifier, prompt_tokens,
completion_tokens, finish_reason, pass_rate, teacher, engine, sampling (JSON text).

Memory stays bounded whatever the store's size: a first pass over the store keeps one small
`SampleInfo` per sample (key, source, kind, length, finish reason, whether it has a think
block) and one `VerdictInfo` per verdict, selection runs on those, and a second pass streams
the chosen samples' rows to disk (`messages.write_dataset` with the build's `features()`), in
the same order (by key) as a build that listed every sample.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reasoning_distill.data_recipes.messages import assistant_text, to_messages_row, write_dataset
from reasoning_distill.data_recipes.select import Selection, SelectPolicy, select_samples

from reasoning_distill.errors import InputError
from reasoning_distill.progress import Progress, ensure
from reasoning_distill.records import Sample

logger = logging.getLogger(__name__)


# Rows that leave the format the card promises, named in it (at most this many each).
NAMED_ROWS = 20
_EVERY = 512  # samples read between progress updates


@dataclass
class BuildResult:
    path: Path
    rows: int
    selection: Selection
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SampleInfo:
    """What selection and the card need of one stored sample: no text."""

    problem_id: str
    sample_index: int
    completion_tokens: int
    source: str
    kind: str
    finish_reason: str
    think: bool  # its assistant turn carries a think block

    @property
    def key(self) -> tuple[str, int]:
        return (self.problem_id, self.sample_index)


@dataclass(frozen=True, slots=True)
class VerdictInfo:
    """What a dataset row says of a verdict (the full record holds details too)."""

    correct: bool
    reason: str
    judged: bool
    verifier: str


def assistant_turn(sample: Sample, answer_only: bool = False) -> str:
    """`<think>reasoning</think>` then the answer (an empty think block for `answer_only`)."""
    if answer_only:
        return assistant_text("", sample.answer or "")
    if sample.reasoning is not None:
        return assistant_text(sample.reasoning, sample.answer or "")
    return sample.completion


def has_think(sample: Sample) -> bool:
    """Whether `assistant_turn(sample)` carries a think block (a parsed one, or the raw
    completion's own): a sample of a model that never opened one does not."""
    return sample.reasoning is not None or "</think>" in (sample.completion or "")


def source_of(sample: Sample) -> str:
    return str((sample.meta or {}).get("source") or "")


def sample_info(sample: Sample) -> SampleInfo:
    return SampleInfo(
        sys.intern(sample.problem_id),  # one string per problem, not one per sample
        sample.sample_index,
        int(sample.completion_tokens),
        sys.intern(source_of(sample)),
        sys.intern(sample.kind or ""),
        sys.intern(str(sample.finish_reason or "")),
        has_think(sample),
    )


def verdict_info(record: Any, shared: dict | None = None) -> VerdictInfo:
    """The small record of a verdict; with `shared`, equal ones are one object (a store holds
    a handful of distinct verdicts, so a million cost a pointer each)."""
    info = VerdictInfo(
        bool(record.correct),
        sys.intern(str(record.reason)),
        bool(getattr(record, "judged", False)),
        sys.intern(str(getattr(record, "verifier", ""))),
    )
    return info if shared is None else shared.setdefault(info, info)


def features() -> Any:
    """The `datasets.Features` of every built dataset (explicit, so a column that happens
    to be empty in the first rows streamed is not typed `null`)."""
    from datasets import Features, List, Value

    text, integer = Value("string"), Value("int64")
    return Features(
        {
            "messages": List({"role": text, "content": text}),
            "source": text,
            "problem_id": text,
            "sample_index": integer,
            "kind": text,
            "verdict": text,
            "correct": Value("bool"),
            "judged": Value("bool"),
            "verifier": text,
            "prompt_tokens": integer,
            "completion_tokens": integer,
            "finish_reason": text,
            "pass_rate": Value("float64"),
            "teacher": text,
            "engine": text,
            "sampling": text,
        }
    )


def dataset_row(sample: Sample, record: Any, pass_rate: float | None, answer_only: bool) -> dict:
    prompt = [m for m in sample.messages if m.get("role") != "assistant"]
    meta = {
        "source": source_of(sample),
        "problem_id": sample.problem_id,
        "sample_index": sample.sample_index,
        "kind": sample.kind,
        "verdict": record.reason if record is not None else None,
        "correct": record.correct if record is not None else None,
        "judged": record.judged if record is not None else None,
        "verifier": record.verifier if record is not None else None,
        "prompt_tokens": sample.prompt_tokens,
        "completion_tokens": sample.completion_tokens,
        "finish_reason": sample.finish_reason,
        "pass_rate": pass_rate,
        "teacher": sample.model,
        "engine": sample.engine,
        "sampling": json.dumps(sample.sampling, sort_keys=True),
    }
    return to_messages_row(prompt, assistant_turn(sample, answer_only), meta)


def pass_rate_by_source(
    samples: Iterable[Any], verdicts: Mapping[tuple[str, int], Any] | None
) -> dict[str, dict[str, int]]:
    """{source: {generated, verified}} over `samples` (`Sample`s or `SampleInfo`s)."""
    out: dict[str, dict[str, int]] = {}
    for s in samples:
        src = s.source if isinstance(s, SampleInfo) else source_of(s)
        d = out.setdefault(src or s.kind or "all", {"generated": 0, "verified": 0})
        d["generated"] += 1
        rec = verdicts.get(s.key) if verdicts is not None else None
        d["verified"] += int(bool(rec is not None and rec.correct))
    return out


def _read_verdict_infos(samples_dir: Path) -> dict[tuple[str, int], VerdictInfo]:
    """The folder's verdicts, by key (first wins), each checked against the store's
    provenance, kept small."""
    from reasoning_distill.generation.store import read_provenance
    from reasoning_distill.verification.verdicts import iter_records

    out: dict[tuple[str, int], VerdictInfo] = {}
    shared: dict[VerdictInfo, VerdictInfo] = {}
    for rec in iter_records(samples_dir / "verdicts.jsonl", read_provenance(samples_dir)):
        key = (sys.intern(rec.key[0]), rec.key[1])
        if key not in out:
            out[key] = verdict_info(rec, shared)
    return out


def _named(infos: Iterable[SampleInfo]) -> list[str]:
    return [f"{s.problem_id}#{s.sample_index}" for s in infos][:NAMED_ROWS]


def build_dataset(
    samples_dir: str | Path,
    out_dir: str | Path,
    policy: SelectPolicy | None = None,
    *,
    answer_only: bool = False,
    card: Mapping[str, Any] | None = None,
    parquet: bool = True,
    samples: Sequence[Sample] | None = None,
    verdicts: Mapping[tuple[str, int], Any] | None = None,
    progress: Progress | None = None,
) -> BuildResult:
    """Select from the store at `samples_dir` (its `verdicts.jsonl` beside the shards) and
    write the dataset folder `out_dir` with its card (replacing only a dataset of ours).

    `samples` / `verdicts` spare re-reading them when the caller already has them. The
    store is read twice, holding small records only (see the module docstring).
    """
    from reasoning_distill.data_recipes.messages import check_output_dir

    policy = policy or SelectPolicy()
    progress = ensure(progress)
    samples_dir = Path(samples_dir)
    check_output_dir(out_dir)

    def read() -> Iterable[Sample]:
        if samples is not None:
            return samples
        from reasoning_distill.verification import iter_store

        return iter_store(samples_dir)

    with progress.task("read samples", None) as task:
        infos = []
        for s in read():
            infos.append(sample_info(s))
            if len(infos) % _EVERY == 0:
                task.advance(_EVERY)
        task.advance(len(infos) % _EVERY)
    infos.sort(key=lambda s: s.key)
    if verdicts is not None:
        shared: dict[VerdictInfo, VerdictInfo] = {}
        verdicts = {(sys.intern(k[0]), k[1]): verdict_info(r, shared) for k, r in verdicts.items()}
    elif (samples_dir / "verdicts.jsonl").exists():
        verdicts = _read_verdict_infos(samples_dir)
    selection = select_samples(infos, verdicts, policy)
    kept = [s for s, _ in selection.chosen]
    chosen = {s.key: i for i, s in enumerate(kept)}  # key -> row position

    def rows() -> Iterator[tuple[int, dict]]:
        with progress.task("write rows", len(chosen)) as task:
            for s in read():
                pos = chosen.get(s.key)
                if pos is not None:
                    rec = selection.chosen[pos][1]
                    yield (
                        pos,
                        dataset_row(s, rec, selection.pass_rate.get(s.problem_id), answer_only),
                    )
                    task.advance(1)

    verdict_counts = Counter(r.reason for r in (verdicts or {}).values())
    no_think = [] if answer_only else [s for s in kept if not s.think]
    truncated = [s for s in kept if s.finish_reason == "length"]
    stats = {
        "samples": len(infos),
        "problems": len({s.problem_id for s in infos}),
        "verdicts": dict(verdict_counts),
        "rows": len(kept),
        "rejected": dict(selection.rejected),
        "problems_dropped": dict(selection.problems_dropped),
        "rows_without_think": len(no_think),
        "rows_truncated": len(truncated),
    }
    info: dict[str, Any] = {
        "title": f"reasoning-distill dataset ({Path(out_dir).name})",
        "pass_rate": pass_rate_by_source(infos, verdicts),
        "rejected": dict(selection.rejected),
        "lengths": [s.completion_tokens for s in kept],
        "selection": {**policy.__dict__, "answer_only": answer_only},
    }
    if no_think or truncated:
        info["off_format"] = {
            "without_think": {"count": len(no_think), "examples": _named(no_think)},
            "truncated": {"count": len(truncated), "examples": _named(truncated)},
        }
    info.update(card or {})
    info.setdefault("stages", {})
    info["stages"] = {
        **info["stages"],
        "samples generated": len(infos),
        "samples verified correct": verdict_counts.get("ok", 0),
        "rows selected": len(kept),
    }
    if len(chosen) != len(kept):
        raise InputError(f"{samples_dir}: a sample key is stored twice; the store is damaged")
    try:
        path = write_dataset(rows(), out_dir, info, parquet=parquet, features=features(),
                             positioned=True)  # fmt: skip
    except ValueError as e:
        raise InputError(
            f"{samples_dir}: {e} (selection rejected: {dict(selection.rejected)}); "
            "loosen select, or use keep: all"
        ) from None
    return BuildResult(path, len(kept), selection, stats)
