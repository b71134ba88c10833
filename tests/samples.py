"""One factory for the `Sample` records tests store: every field set, overrides by name."""

from __future__ import annotations

from typing import Any

from reasoning_distill.records import Sample

DEFAULTS: dict[str, Any] = dict(
    problem_id="q0",
    sample_index=0,
    seed=0,
    prompt="p",
    messages=[{"role": "user", "content": "p"}],
    completion="<think>r</think>a",
    reasoning="r",
    answer="a",
    finish_reason="stop",
    prompt_tokens=3,
    completion_tokens=5,
    engine="hf",
    model="m",
    sampling={"n": 1},
)


def make_sample(**fields: Any) -> Sample:
    """A `Sample` with `DEFAULTS` for every field not given."""
    return Sample(**{**DEFAULTS, **fields})
