"""One function builds a dataset from a generation store plus its verdicts: `build_dataset`.

`rdistill build`, the recipes and the demo all call it. Each row is `messages` (every prompt
turn the teacher saw, system included, then the assistant turn `<think>reasoning</think>`
and the answer, so TRL's `SFTTrainer` and open-r1 read it unchanged) plus metadata columns:
source, problem_id, sample_index, kind, verdict, correct, judged, verifier, prompt_tokens,
completion_tokens, pass_rate, teacher, engine, sampling (JSON text).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reasoning_distill.data_recipes.messages import assistant_text, to_messages_row, write_dataset
from reasoning_distill.data_recipes.select import Selection, SelectPolicy, select_samples

from reasoning_distill.records import Sample

logger = logging.getLogger(__name__)


@dataclass
class BuildResult:
    path: Path
    rows: int
    selection: Selection
    stats: dict[str, Any] = field(default_factory=dict)


def assistant_turn(sample: Sample, answer_only: bool = False) -> str:
    """`<think>reasoning</think>` then the answer (an empty think block for `answer_only`)."""
    if answer_only:
        return assistant_text("", sample.answer or "")
    if sample.reasoning is not None:
        return assistant_text(sample.reasoning, sample.answer or "")
    return sample.completion


def source_of(sample: Sample) -> str:
    return str((sample.meta or {}).get("source") or "")


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
        "pass_rate": pass_rate,
        "teacher": sample.model,
        "engine": sample.engine,
        "sampling": json.dumps(sample.sampling, sort_keys=True),
    }
    return to_messages_row(prompt, assistant_turn(sample, answer_only), meta)


def pass_rate_by_source(
    samples: Sequence[Sample], verdicts: Mapping[tuple[str, int], Any] | None
) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for s in samples:
        d = out.setdefault(source_of(s) or s.kind or "all", {"generated": 0, "verified": 0})
        d["generated"] += 1
        rec = verdicts.get(s.key) if verdicts is not None else None
        d["verified"] += int(bool(rec is not None and rec.correct))
    return out


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
) -> BuildResult:
    """Select from the store at `samples_dir` (its `verdicts.jsonl` beside the shards) and
    write the dataset folder `out_dir` with its card (replacing only a dataset of ours).

    `samples` / `verdicts` spare re-reading them when the caller already has them.
    """
    from reasoning_distill.data_recipes.messages import check_output_dir

    from reasoning_distill.verification import read_store, read_verdicts

    policy = policy or SelectPolicy()
    check_output_dir(out_dir)
    samples = list(samples) if samples is not None else read_store(samples_dir)
    if verdicts is None and (Path(samples_dir) / "verdicts.jsonl").exists():
        verdicts = read_verdicts(samples_dir)
    selection = select_samples(samples, verdicts, policy)
    rows = [
        dataset_row(s, r, selection.pass_rate.get(s.problem_id), answer_only)
        for s, r in selection.chosen
    ]
    verdict_counts = Counter(r.reason for r in (verdicts or {}).values())
    stats = {
        "samples": len(samples),
        "problems": len({s.problem_id for s in samples}),
        "verdicts": dict(verdict_counts),
        "rows": len(rows),
        "rejected": dict(selection.rejected),
        "problems_dropped": dict(selection.problems_dropped),
    }
    info: dict[str, Any] = {
        "title": f"reasoning-distill dataset ({Path(out_dir).name})",
        "pass_rate": pass_rate_by_source(samples, verdicts),
        "rejected": dict(selection.rejected),
        "lengths": [s.completion_tokens for s, _ in selection.chosen],
        "selection": {**policy.__dict__, "answer_only": answer_only},
    }
    info.update(card or {})
    info.setdefault("stages", {})
    info["stages"] = {
        **info["stages"],
        "samples generated": len(samples),
        "samples verified correct": verdict_counts.get("ok", 0),
        "rows selected": len(rows),
    }
    try:
        path = write_dataset(rows, out_dir, info, parquet=parquet)
    except ValueError as e:
        from reasoning_distill.errors import InputError

        raise InputError(
            f"{samples_dir}: {e} (selection rejected: {dict(selection.rejected)}); "
            "loosen select, or use keep: all"
        ) from None
    return BuildResult(path, len(rows), selection, stats)
