"""Rows and stores for the verify / build CLI tests (shared helpers, not a test module)."""

from __future__ import annotations

import json
from pathlib import Path

PLUS3 = {"kind": "assert", "code": "assert f(2) == 5", "entry_point": None, "setup": ""}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def math_completion(answer: str) -> str:
    return f"<think>\nwork\n</think>\n\nThe answer is \\boxed{{{answer}}}."


def code_completion(body: str) -> str:
    return f"<think>\nwork\n</think>\n\n```python\ndef f(x):\n    {body}\n```"


def make_store(folder: Path, samples: list[dict], fmt: str = "jsonl") -> Path:
    """A real generation store (manifest and shards) holding `samples` (Sample fields)."""
    from reasoning_distill.generation.store import Store
    from tests.samples import make_sample

    defaults = dict(
        prompt="",
        reasoning=None,
        answer="",
        model="tiny",
        think_closed=True,
        sampling={"temperature": 0.6},
    )
    with Store.open(folder, {"model": "tiny"}, format=fmt) as store:
        store.append([make_sample(**{**defaults, **s}) for s in samples])
    return folder


def mixed_samples() -> list[dict]:
    """Two math and two code samples: one right and one wrong of each kind."""
    user = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+3?"}]
    code_user = [{"role": "user", "content": "Write f(x) = x + 3."}]
    return [
        dict(problem_id="m1", sample_index=0, messages=user, kind="math", gold="5",
             completion=math_completion("5"), answer="The answer is \\boxed{5}."),
        dict(problem_id="m1", sample_index=1, messages=user, kind="math", gold="5",
             completion=math_completion("6"), answer="The answer is \\boxed{6}."),
        dict(problem_id="c1", sample_index=0, messages=code_user, kind="code", gold=PLUS3,
             completion=code_completion("return x + 3")),
        dict(problem_id="c1", sample_index=1, messages=code_user, kind="code", gold=PLUS3,
             completion=code_completion("return x")),
    ]  # fmt: skip
