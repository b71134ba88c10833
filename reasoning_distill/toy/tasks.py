"""Procedural reasoning tasks with exact answers and gold chains of thought.

Two kinds:
- math: two-step +/- arithmetic over small integers, the same as short word problems, and
  same-denominator fraction sums whose answers are LaTeX fractions (`\\frac{2}{3}`), so that
  verification needs real answer equivalence (`\\frac{8}{12}` is right for `\\frac{2}{3}`).
- code: "write a function that ..." tasks; the answer is a fenced Python block, checked by
  running assert tests.

Splits are decided by a hash of the problem's canonical text, so they are disjoint whatever
the seed and however many problems are drawn: `pretrain` (the gold traces the toy teacher
learns from), `train` (the prompts the teacher samples traces for, to distil) and `heldout`
(evaluation only).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from reasoning_distill.records import Problem

# Bump when the generated problems or traces change: cached teachers are keyed by it.
TASKS_VERSION = 6
SPLITS = {"pretrain": range(0, 40), "train": range(40, 80), "heldout": range(80, 100)}
MAX_OPERAND = 12

_NAMES = ["Tom", "Ana", "Li", "Sam", "Mia", "Ben"]
_ITEMS = ["apples", "coins", "books", "stamps", "cards", "shells"]
_FUNC_NAMES = ["f", "g", "h", "calc", "solve"]


@dataclass(frozen=True)
class Trace:
    """A problem with its gold reasoning and final answer text."""

    problem: Problem
    reasoning: str
    final: str

    def assistant(self, with_reasoning: bool = True) -> str:
        body = self.reasoning if with_reasoning else ""
        return f"<think>\n{body}\n</think>\n\n{self.final}"

    def messages(self, with_reasoning: bool = True) -> list[dict[str, str]]:
        return [
            {"role": "user", "content": self.problem.prompt},
            {"role": "assistant", "content": self.assistant(with_reasoning)},
        ]


def split_of(key: str) -> str:
    """The split a problem belongs to, from a hash of its text."""
    h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") % 100
    return next(name for name, r in SPLITS.items() if h in r)


def _pid(kind: str, key: str) -> str:
    return f"toy_{kind}-" + hashlib.blake2b(key.encode(), digest_size=6).hexdigest()


def _latex(x: Fraction) -> str:
    if x.denominator == 1:
        return str(x.numerator)
    return f"\\frac{{{x.numerator}}}{{{x.denominator}}}"


def _boxed(answer: str) -> str:
    return f"\\boxed{{{answer}}}"


def _two_steps(rng: random.Random) -> tuple[int, str, int, str, int, int, int]:
    """a op1 b op2 c with every intermediate value in [0, 2 * MAX_OPERAND]."""
    while True:
        a, b, c = (rng.randint(0, MAX_OPERAND) for _ in range(3))
        op1, op2 = rng.choice("+-"), rng.choice("+-")
        mid = a + b if op1 == "+" else a - b
        end = mid + c if op2 == "+" else mid - c
        if mid >= 0 and end >= 0:
            return a, op1, b, op2, c, mid, end


def _arith(rng: random.Random) -> Trace:
    a, op1, b, op2, c, mid, end = _two_steps(rng)
    prompt = f"Compute {a}{op1}{b}{op2}{c}."
    reasoning = f"{a}{op1}{b}={mid}\n{mid}{op2}{c}={end}"
    return _math(prompt, reasoning, str(end))


def _word(rng: random.Random) -> Trace:
    a, op1, b, op2, c, mid, end = _two_steps(rng)
    name, item = rng.choice(_NAMES), rng.choice(_ITEMS)
    verb = {"+": "gets {} more", "-": "gives away {}"}
    prompt = (
        f"{name} has {a} {item}, {verb[op1].format(b)}, then {verb[op2].format(c)}. "
        f"How many {item} now?"
    )
    reasoning = f"{a}{op1}{b}={mid}\n{mid}{op2}{c}={end}"
    return _math(prompt, reasoning, str(end))


def _fraction(rng: random.Random) -> Trace:
    d = rng.randint(2, 12)
    a, b = rng.randint(1, d), rng.randint(1, d)
    total = Fraction(a + b, d)
    prompt = f"Compute {a}/{d}+{b}/{d} in lowest terms."
    reasoning = f"{a}/{d}+{b}/{d}={a + b}/{d}"
    if total.denominator != d:
        simple = (
            str(total.numerator)
            if total.denominator == 1
            else f"{total.numerator}/{total.denominator}"
        )
        reasoning += f"\n{a + b}/{d}={simple}"
    return _math(prompt, reasoning, _latex(total))


def _math(prompt: str, reasoning: str, gold: str) -> Trace:
    problem = Problem(
        id=_pid("math", prompt), prompt=prompt, gold=gold, kind="math", source="toy_math"
    )
    return Trace(problem, reasoning, _boxed(gold))


_OPS: dict[str, tuple[str, Callable[[int, int], int], str]] = {
    "plus": ("+", lambda x, k: x + k, "adds {k}"),
    "minus": ("-", lambda x, k: x - k, "subtracts {k}"),
    "times": ("*", lambda x, k: x * k, "multiplies by {k}"),
}


def _code(rng: random.Random) -> Trace:
    name = rng.choice(_FUNC_NAMES)
    steps = [(rng.choice(list(_OPS)), rng.randint(1, 9)) for _ in range(rng.randint(1, 2))]
    words = " and then ".join(_OPS[op][2].format(k=k) for op, k in steps)
    # The name comes last, next to where the answer starts: a tiny model copies a name from
    # the end of the prompt far more reliably than from its beginning.
    prompt = f"Write a Python function of x that {words}. Name it {name}."
    # Naming the function first keeps it next to the prompt: copying it from far back is
    # what a tiny model gets wrong most when it writes the code straight away.
    expr, lines = "x", [f"function {name}"]
    for op, k in steps:
        sym = _OPS[op][0]
        new = f"{expr} {sym} {k}" if expr == "x" or sym != "*" else f"({expr}) * {k}"
        lines.append(f"{op} {k}: {new}")
        expr = new
    reasoning = "\n".join(lines)
    code = f"def {name}(x):\n    return {expr}"
    xs = rng.sample(range(-5, 21), 3)
    tests = []
    for x in xs:
        y = x
        for op, k in steps:
            y = _OPS[op][1](y, k)
        tests.append(f"assert {name}({x}) == {y}")
    gold = {"kind": "assert", "code": "\n".join(tests), "entry_point": None, "setup": ""}
    problem = Problem(
        id=_pid("code", prompt), prompt=prompt, gold=gold, kind="code", source="toy_code"
    )
    return Trace(problem, reasoning, f"```python\n{code}\n```")


_MATH_MAKERS = (_arith, _word, _fraction)
_MATH_WEIGHTS = (0.45, 0.35, 0.2)


def make_traces(kind: str, split: str, n: int, seed: int = 0) -> list[Trace]:
    """Draw `n` distinct problems of `kind` ("math" or "code") from `split`.

    Raises ValueError when the split has fewer than `n` distinct problems to draw from.
    """
    if kind not in ("math", "code"):
        raise ValueError(f"kind must be 'math' or 'code', got {kind!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    rng = random.Random(f"{kind}-{split}-{seed}")
    out: dict[str, Trace] = {}
    misses = 0
    while len(out) < n:
        if kind == "math":
            maker = rng.choices(_MATH_MAKERS, _MATH_WEIGHTS)[0]
            trace = maker(rng)
        else:
            trace = _code(rng)
        key = trace.problem.prompt
        if split_of(key) != split or key in out:
            misses += 1
            if misses > 200 * (n + 100):
                raise ValueError(f"could not draw {n} distinct {kind} problems for {split}")
            continue
        out[key] = trace
    return list(out.values())
