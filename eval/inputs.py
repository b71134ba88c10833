"""What an evaluation reads, checked before any model loads: the models it names and the
benchmarks it loads, each with its token budget and where its data came from.

Errors are `ConfigError`s naming the `rdistill eval` flag at fault (`--model`, `--benchmark`,
`--max-tokens-for`), since that is where these values come from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from reasoning_distill.errors import ConfigError

if TYPE_CHECKING:
    from reasoning_distill.eval.evaluate import BenchmarkRun

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_models(
    given: Sequence[tuple[str, str | None]], teacher: str | None = None
) -> dict[str, str]:
    """{name: path} from the (name, path) pairs of `--model`; `teacher` must be one of them,
    beside at least one other model."""
    models: dict[str, str] = {}
    for name, path in given:
        if path is None or not path.strip():
            raise ConfigError(f"--model {name}: give NAME=PATH (a model folder or a hub id)")
        if not _NAME_RE.match(name):
            raise ConfigError(
                f"--model {name}=...: a name may hold letters, digits, '_', '.' and '-' "
                "(it names a folder under --out)"
            )
        if name in models:
            raise ConfigError(f"--model {name}: the name is given twice")
        models[name] = path
    if teacher is not None:
        if teacher not in models:
            raise ConfigError(
                f"--teacher {teacher!r} is not one of the --model names ({', '.join(models)})"
            )
        if len(models) < 2:
            raise ConfigError(
                f"--teacher {teacher}: a gap report needs at least one other --model "
                "(a student); give one, or drop --teacher to write results only"
            )
    return models


def check_benchmark_names(
    given: Sequence[tuple[str, str | None]], token_budgets: dict[str, int]
) -> None:
    """Every (name, path) of `--benchmark` names a registered benchmark, once; every
    `--max-tokens-for` name is one of them."""
    from reasoning_distill.eval.benchmarks import get_benchmark

    names = [name for name, _ in given]
    for name in names:
        get_benchmark(name)
    if len(set(names)) != len(names):
        raise ConfigError(f"--benchmark: a benchmark is given twice ({', '.join(names)})")
    for name in token_budgets:
        if name not in names:
            raise ConfigError(f"--max-tokens-for {name}: not one of the --benchmark names")


def load_benchmarks(
    given: Sequence[tuple[str, str | None]],
    *,
    n: int,
    limit: int | None = None,
    window: tuple[str | None, str | None] | None = None,
    max_tokens: int | None = None,
    token_budgets: dict[str, int] | None = None,
) -> dict[str, BenchmarkRun]:
    """Each (name, path) of `--benchmark` loaded as a `BenchmarkRun`, its problems checked
    for `n` samples each. A benchmark's budget is its `token_budgets` entry, else
    `max_tokens`, else the benchmark's own; its origin is the path (and the date window)."""
    from reasoning_distill.eval.benchmarks import get_benchmark, load_benchmark
    from reasoning_distill.eval.evaluate import BenchmarkRun

    from reasoning_distill.generation.spec import check_problems

    token_budgets = token_budgets or {}
    runs: dict[str, BenchmarkRun] = {}
    for name, path in given:
        b = get_benchmark(name)
        budget = token_budgets.get(name) or max_tokens or b.max_tokens
        problems = load_benchmark(name, path, limit, window)
        check_problems(problems, n)
        origin = path if window is None else f"{path or b.source} {window}"
        runs[name] = BenchmarkRun(name, problems, budget, b, origin)
    return runs
