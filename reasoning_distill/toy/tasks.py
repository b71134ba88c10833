"""Procedural reasoning tasks with exact answers and gold chains of thought.

Two kinds:
- math: two-step +/- arithmetic over small integers, the same as short word problems, and
  same-denominator fraction sums whose answers are LaTeX fractions (`\\frac{2}{3}`), so that
  verification needs real answer equivalence (`\\frac{8}{12}` is right for `\\frac{2}{3}`).
- code: "write a Python function f(x) that adds 4, then subtracts 2" tasks; the answer is a
  fenced Python block, checked by running assert tests, and the reasoning folds the
  constants (4-2=2) before writing `return x + 2`.

Splits are decided by a hash of the problem's canonical text, so they are disjoint whatever
the seed and however many problems are drawn: `pretrain` (the gold traces the toy teacher
learns from), `train` (the prompts the teacher samples traces for, to distil) and `heldout`
(evaluation only).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from fractions import Fraction

from reasoning_distill.records import Problem

# Bump when the generated problems or traces change: cached teachers are keyed by it.
TASKS_VERSION = 7
SPLITS = {"pretrain": range(0, 40), "train": range(40, 80), "heldout": range(80, 100)}
MAX_OPERAND = 12

_NAMES = ["Tom", "Ana", "Li", "Sam", "Mia", "Ben"]
_ITEMS = ["apples", "coins", "books", "stamps", "cards", "shells"]


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


# Every code task names its function `f`: a small teacher that must copy a name from the
# prompt gets it wrong more often than anything else (with five names to copy, 80% of a
# 1000-step teacher's code traces failed on the name alone), and the name teaches nothing.
FUNC_NAME = "f"
_VERB = {"+": "adds {}", "-": "subtracts {}"}


def _code(rng: random.Random) -> Trace:
    """f(x) = [x * k] op1 a op2 b, whose code needs the two constants folded into one.

    The reasoning writes the expression the prompt describes, folds its two constants with
    one step of the math tasks' arithmetic, and writes the folded expression. Only
    `+a+b`, `+a-b` (a >= b) and `-a-b` are drawn: every constant stays >= 0 and the folded
    expression keeps the first sign, so the one thing to work out is the fold itself, the
    step the chain of thought is for (without it the constant must be guessed).
    """
    scale = rng.choice([None, *range(2, 13)])
    op1, op2 = rng.choice(["++", "+-", "--"])
    while True:
        a, b = rng.randint(1, MAX_OPERAND), rng.randint(1, MAX_OPERAND)
        if op1 == op2 or a >= b:
            break
    fold = "+" if op1 == op2 else "-"
    c = a + b if fold == "+" else a - b
    words = [f"multiplies by {scale}"] if scale else []
    words += [_VERB[op1].format(a), _VERB[op2].format(b)]
    prompt = f"Write a Python function {FUNC_NAME}(x) that {', then '.join(words)}."
    head = f"x * {scale}" if scale else "x"
    expr = f"{head} {op1} {c}"
    reasoning = f"{head} {op1} {a} {op2} {b}\n{a}{fold}{b}={c}\n{expr}"
    code = f"def {FUNC_NAME}(x):\n    return {expr}"
    tests = []
    for x in rng.sample(range(-5, 21), 3):
        y = x * (scale or 1)
        y = y + a if op1 == "+" else y - a
        y = y + b if op2 == "+" else y - b
        tests.append(f"assert {FUNC_NAME}({x}) == {y}")
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
