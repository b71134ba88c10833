"""Records that cross rooms: small JSON-serialisable dataclasses."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Problem:
    """One task to solve.

    `gold` is the reference: an answer string for math, a tests dict for code (see
    `reasoning_distill.verifiers.verify_code`). `kind` is "math" or "code".
    """

    id: str
    prompt: str
    gold: Any
    kind: str = "math"
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def messages(self, system: str | None = None) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": system}] if system else []
        msgs.append({"role": "user", "content": self.prompt})
        return msgs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Problem:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class Sample:
    """One sampled completion of one problem: the unit the generation store writes.

    (`problem_id`, `sample_index`) is the stable identity a resumed job skips on.
    """

    problem_id: str
    sample_index: int
    seed: int
    prompt: str
    messages: list[dict[str, str]]
    completion: str
    reasoning: str | None
    answer: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    engine: str
    model: str
    sampling: dict[str, Any]
    think_closed: bool = False
    gold: Any = None
    kind: str = ""
    elapsed_s: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    # Top-k logprobs per completion token ({token: logprob}), only when the job asked for them.
    logprobs: list[dict[str, float]] | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.problem_id, self.sample_index)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sample:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
