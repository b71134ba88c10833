"""Engine results to store records: reasoning split from the answer, seeds, timing, meta."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from reasoning_distill.generation.engine import GenerationResult, sample_seed
from reasoning_distill.generation.parsing import (
    THINK_CLOSE,
    THINK_OPEN,
    prompt_opens_think,
    split_reasoning,
)
from reasoning_distill.generation.spec import JobSpec
from reasoning_distill.records import Problem, Sample


def results_to_samples(
    results: Sequence[GenerationResult],
    problems: dict[str, Problem],
    spec: JobSpec,
    think_in_prompt: bool | None = None,
    elapsed_s: float | None = None,
) -> list[Sample]:
    """Turn engine results into store records, parsing reasoning and answer.

    Each sample's `elapsed_s` is its share, by completion tokens, of `elapsed_s` (the wall
    time of the engine call that made all `results`; default: the results' own `elapsed_s`).
    Engines batch and overlap requests, so a share of throughput time is the honest figure.

    `think_in_prompt=None` detects a prompt that already opened `<think>`. Servers that return
    the reasoning separately (`reasoning_content`) get it as `reasoning`, and `completion` is
    rebuilt as `<think>\\n{reasoning}\\n</think>\\n\\n{content}` so that re-parsing it agrees.
    """
    params, system = spec.params, spec.system
    sampling = params.to_dict()
    now = time.time()
    out: list[Sample] = []
    if elapsed_s is None:
        elapsed_s = max((r.elapsed_s for r in results), default=0.0)
    total_tokens = sum(c.completion_tokens for r in results for c in r.completions) or 1
    for r in results:
        problem = problems[r.request_id]
        opens = prompt_opens_think(r.prompt) if think_in_prompt is None else think_in_prompt
        for c in r.completions:
            meta: dict[str, Any] = {"generated_at": now}
            # The input's other columns (level, subject, source...) travel with every sample,
            # so a dataset built from the samples can still be filtered or stratified by them.
            if problem.source:
                meta["source"] = problem.source
            if problem.meta:
                meta["problem"] = problem.meta
            if c.reasoning_content is not None:
                reasoning: str | None = c.reasoning_content.strip()
                answer = c.text.strip()
                # With a reasoning parser the server moves everything to reasoning_content
                # until it sees </think>: no content and a length stop mean it never closed.
                think_closed = bool(answer) or c.finish_reason == "stop"
                completion = f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}\n\n{c.text}"
                meta["reasoning_content"] = True
            else:
                parsed = split_reasoning(c.text, think_in_prompt=opens)
                reasoning, answer, think_closed = (
                    parsed.reasoning,
                    parsed.answer,
                    parsed.think_closed,
                )
                completion = c.text
            out.append(
                Sample(
                    problem_id=problem.id,
                    sample_index=c.index,
                    seed=c.seed
                    if c.seed is not None
                    else sample_seed(params.seed, problem.id, c.index),
                    prompt=r.prompt,
                    messages=problem.messages(system),
                    completion=completion,
                    reasoning=reasoning,
                    answer=answer,
                    finish_reason=c.finish_reason,
                    prompt_tokens=r.prompt_tokens,
                    completion_tokens=c.completion_tokens,
                    engine=spec.engine,
                    model=spec.model,
                    sampling=sampling,
                    think_closed=think_closed,
                    gold=problem.gold,
                    kind=problem.kind,
                    elapsed_s=elapsed_s * c.completion_tokens / total_tokens,
                    meta=meta,
                    logprobs=c.logprobs,
                )
            )
    return out
