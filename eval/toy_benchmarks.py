"""The miniature world's held-out benchmarks, in the same registry as the public ones.

- toy_math: two-step integer arithmetic, word problems and same-denominator fraction sums
  (`reasoning_distill.toy.tasks`, held-out split); answer in `\\boxed{}`, graded by
  math-verify equivalence (`\\frac{8}{12}` is right for `\\frac{2}{3}`). Default size 300.
- toy_code: "write f(x) that multiplies by k, adds a, then subtracts b"; a fenced Python
  function, graded by three assert tests in the sandbox. Default size 100.
- Source: generated (seed 0) without a path; with a path, a JSONL of `Problem` rows, as the
  demo writes them to `problems/toy_math.jsonl` (extra fields are ignored).
- Prompt template: the task's own text, unchanged (`{problem}`); the toy chat template adds
  the turn markers. Token budget 96. Version `toy-<TASKS_VERSION>`: it moves with the
  generator.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from reasoning_distill.eval.registry import Benchmark, Row, register

from reasoning_distill.jsonl import iter_jsonl
from reasoning_distill.records import Problem
from reasoning_distill.toy.tasks import TASKS_VERSION

TOY_MAX_TOKENS = 96


def _problem(b: Benchmark, row: Row, index: int) -> Problem:
    for key in ("id", "prompt", "gold"):
        if key not in row:
            raise KeyError(f"field {key!r} is missing")
    p = Problem.from_dict(row)
    if p.kind != b.kind:
        raise ValueError(f"kind is {p.kind!r}, {b.name} holds {b.kind!r} problems")
    return p


def _rows(kind: str, size: int):
    def rows(b: Benchmark, path: Path | None) -> Iterator[Row]:
        if path is not None:
            from reasoning_distill.errors import InputError

            if not path.is_file():
                raise InputError(f"benchmark {b.name!r}: no such file {path}")
            yield from (row for _, row in iter_jsonl(path))
            return
        from reasoning_distill.toy.tasks import make_traces

        for trace in make_traces(kind, "heldout", size, seed=0):
            yield trace.problem.to_dict()

    return rows


for _kind, _size, _fmt, _metric in (
    ("math", 300, "\\boxed{} answer", "pass@1 (math-verify equivalence of the \\boxed{} answer)"),
    ("code", 100, "Python function f(x)", "pass@1 (three assert tests pass in the sandbox)"),
):
    register(
        Benchmark(
            name=f"toy_{_kind}",
            version=f"toy-{TASKS_VERSION}",
            kind=_kind,
            source="reasoning_distill.toy.tasks (held-out split, generated)",
            hf_split="heldout",
            size=_size,
            metric=_metric,
            answer_format=_fmt,
            local_file=f"toy_{_kind}.jsonl",
            to_problem=_problem,
            prompt_template="{problem}",
            max_tokens=TOY_MAX_TOKENS,
            rows=_rows(_kind, _size),
        )
    )
