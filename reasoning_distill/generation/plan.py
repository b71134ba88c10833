"""Which samples a job still has to make: one request per problem, naming the missing ones."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from reasoning_distill.generation.engine import GenerationRequest
from reasoning_distill.records import Problem


def plan_requests(
    problems: Sequence[Problem],
    n: int,
    done: Iterable[tuple[str, int]],
    system: str | None = None,
) -> list[GenerationRequest]:
    """One request per problem that still lacks samples, naming only the missing indices.

    A problem with nothing stored gets `range(n)`, not a list of `n` numbers, so planning
    costs memory for what is stored, not for what is asked.
    """
    done_by: dict[str, set[int]] = {}
    for pid, k in done:
        done_by.setdefault(pid, set()).add(k)
    requests = []
    for p in problems:
        have = done_by.get(p.id)
        missing: Sequence[int] = range(n) if not have else [i for i in range(n) if i not in have]
        if missing:
            requests.append(
                GenerationRequest(
                    request_id=p.id, messages=p.messages(system), sample_indices=missing
                )
            )
    return requests


def count_samples(requests: Sequence[GenerationRequest], n: int) -> int:
    """How many samples `requests` ask for."""
    return sum(len(r.indices(n)) for r in requests)
