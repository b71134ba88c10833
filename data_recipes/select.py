"""Rejection sampling: which of a problem's samples go into the dataset.

Per problem: the pass rate (verified / generated) must lie in the band (drop problems the
teacher always or never solves); samples longer than `max_tokens` are dropped; then
`keep: verified` keeps the correct ones (`all`: every one, the unverified control), and up to
`k` of them are chosen: the shortest, a seeded random draw, or all in sample order.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SelectPolicy:
    keep: str = "verified"  # "verified" | "all"
    k: int | None = None
    choose: str = "all"  # "shortest" | "random" | "all"
    seed: int = 0
    min_pass_rate: float = 0.0
    max_pass_rate: float = 1.0
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        from reasoning_distill.errors import ConfigError

        if self.keep not in ("verified", "all"):
            raise ConfigError(f"select.keep must be 'verified' or 'all', got {self.keep!r}")
        if self.choose not in ("shortest", "random", "all"):
            raise ConfigError(f"select.choose must be shortest, random or all, got {self.choose!r}")
        if not 0 <= self.min_pass_rate <= self.max_pass_rate <= 1:
            raise ConfigError(
                f"select.pass_rate: need 0 <= min <= max <= 1, got min {self.min_pass_rate}, "
                f"max {self.max_pass_rate}"
            )
        for name, value in (("k", self.k), ("max_tokens", self.max_tokens)):
            if value is not None and (isinstance(value, bool) or value < 1):
                raise ConfigError(f"select.{name} must be >= 1, got {value}")


@dataclass
class Selection:
    chosen: list[tuple[Any, Any]]  # (sample or its SampleInfo, verdict record or None)
    rejected: Counter = field(default_factory=Counter)  # reason -> samples
    pass_rate: dict[str, float] = field(default_factory=dict)  # problem -> rate
    problems_dropped: Counter = field(default_factory=Counter)  # why -> problems


def _rng(seed: int, problem_id: str) -> random.Random:
    h = hashlib.blake2b(f"{seed}\0{problem_id}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(h, "little"))


def select_samples(
    samples: Sequence[Any], verdicts: Mapping[tuple[str, int], Any] | None, policy: SelectPolicy
) -> Selection:
    """Apply `policy`; `verdicts` (key -> record with `.correct`/`.reason`) may be None only
    for `keep: all` without a pass-rate band.

    `samples` are `Sample`s or anything with their `problem_id`, `sample_index`, `key` and
    `completion_tokens` (the build passes `dataset.SampleInfo`: no texts)."""
    from reasoning_distill.errors import InputError

    needs_verdicts = policy.keep == "verified" or (policy.min_pass_rate, policy.max_pass_rate) != (
        0.0,
        1.0,
    )
    by_problem: dict[str, list[Any]] = defaultdict(list)
    for s in samples:
        by_problem[s.problem_id].append(s)
    out = Selection([])
    for pid in sorted(by_problem):
        group = sorted(by_problem[pid], key=lambda s: s.sample_index)
        recs = []
        for s in group:
            rec = verdicts.get(s.key) if verdicts is not None else None
            if rec is None and needs_verdicts:
                raise InputError(
                    f"sample {pid}#{s.sample_index} has no verdict: run `rdistill verify "
                    "--samples` on the store first (or select with keep: all)"
                )
            recs.append(rec)
        if verdicts is not None and all(r is not None for r in recs):
            rate = sum(r.correct for r in recs) / len(recs)
            out.pass_rate[pid] = rate
            if not policy.min_pass_rate <= rate <= policy.max_pass_rate:
                out.problems_dropped["pass rate outside band"] += 1
                out.rejected["pass_rate_band"] += len(group)
                continue
        cands = []
        for s, r in zip(group, recs, strict=True):
            if policy.max_tokens is not None and s.completion_tokens > policy.max_tokens:
                out.rejected["too_many_tokens"] += 1
            elif policy.keep == "verified" and not r.correct:
                out.rejected[r.reason] += 1
            else:
                cands.append((s, r))
        if policy.choose == "shortest":
            cands.sort(key=lambda c: (c[0].completion_tokens, c[0].sample_index))
        elif policy.choose == "random":
            _rng(policy.seed, pid).shuffle(cands)
        if policy.k is not None and len(cands) > policy.k:
            out.rejected["over_k"] += len(cands) - policy.k
            cands = cands[: policy.k]
        if not cands:
            out.problems_dropped["no sample kept"] += 1
        out.chosen.extend(sorted(cands, key=lambda c: c[0].sample_index))
    return out
