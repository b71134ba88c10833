"""Find the final answer in model output and the gold answer in a dataset row, as text.

Pure string work, no sympy: cheap enough to run in the parent process, and kept apart from
grading so that what was compared can always be shown (`Verdict.extracted`).

Rules, in order, on the text after the last `</think>` (an unclosed think block has no answer):
1. the last `\\boxed{...}` / `\\fbox{...}` (nested braces), and with it the final group of
   boxes it closes (`\\boxed{1} and \\boxed{2}`, see `math_parts`), which is graded only
   when the gold answer has several parts;
2. GSM8K's `#### n`;
3. `final answer is ...`, `the answer is ...`, `Answer: ...` (the last one);
4. a final line `A: n`.
A model that committed to an answer through one of these never gets graded on some other
number in its text: an answer that then fails to parse is wrong, not a fallback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reasoning_distill.verifiers.math_parts import close_brace, final_box_group

# How a completion without any box is read: "markers" (rules 2-4 above; the default), or
# "math_verify": a marker whose answer parses, else math-verify's own extraction over the
# answer region (its `final answer is $x$` / `answer:` anchors, then the last LaTeX or
# number), for teachers and benchmarks that do not box. The second reading needs sympy, so
# `math_grade` does it, in the worker. "refuse": only a boxed answer counts (a completion
# without a box is `no_answer`), for datasets that must box every answer; the format check
# demands a box in that mode alone, so the answer reading and the format check agree.
UNBOXED_MODES = ("markers", "math_verify", "refuse")

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*(\{)?")
_HASH_RE = re.compile(r"####\s*([^\n]+)")
_PHRASE_RE = re.compile(
    r"(?:final\s+answer\s*(?:is|:)|the\s+answer\s+is|\banswer\s*:)\s*:?\s*([^\n]+)",
    re.IGNORECASE,
)
_A_LINE_RE = re.compile(r"^\s*A\s*:\s*(\S[^\n]*)$")


@dataclass(frozen=True)
class Extraction:
    """What was found: `method` (boxed, hash, phrase, a_line, none, unclosed_think,
    unclosed_box), the answer `text` (None when nothing was found; the last box when boxed)
    and, when boxed, `boxes`: the contents of the final group of boxes, the last one last."""

    method: str
    text: str | None
    boxes: tuple[str, ...] = ()


def answer_region(completion: str, include_think: bool = False) -> str | None:
    """The part of a completion that may hold the final answer; None for an unclosed think."""
    if include_think:
        return completion
    if THINK_CLOSE in completion:
        return completion.rsplit(THINK_CLOSE, 1)[1]
    if THINK_OPEN in completion:
        return None  # still thinking: whatever it wrote is not a committed answer
    return completion


def last_boxed(text: str) -> tuple[str | None, bool]:
    """Content of the last `\\boxed{...}` / `\\fbox{...}` with nested braces.

    Returns (content, found): found=True with content None means a box that never closed.
    `\\boxed 5` (no braces) gives the next token.
    """
    matches = list(_BOX_RE.finditer(text))
    if not matches:
        return None, False
    m = matches[-1]
    if m.group(1) is None:
        tok = re.match(r"\s*([^\s$]+)", text[m.end() :])
        return (tok.group(1) if tok else None), True
    end = close_brace(text, m.end())
    return (None if end is None else text[m.end() : end]), True


def _clean_tail(s: str) -> str:
    s = s.strip()
    # trailing sentence punctuation and emphasis, not part of the answer
    s = re.sub(r"[\s.。!]+$", "", s)
    s = s.strip("*").strip()
    return s


def extract_answer(completion: str, include_think: bool = False) -> Extraction:
    """The final answer a completion committed to, by the rules in the module docstring."""
    region = answer_region(completion, include_think)
    if region is None:
        return Extraction("unclosed_think", None)
    boxed, found = last_boxed(region)
    if found:
        if boxed is None:
            return Extraction("unclosed_box", None)
        return Extraction("boxed", boxed, tuple(final_box_group(region)) or (boxed,))
    hashes = _HASH_RE.findall(region)
    if hashes:
        return Extraction("hash", _clean_tail(hashes[-1]))
    phrases = _PHRASE_RE.findall(region)
    if phrases:
        phrase = phrases[-1]
        for _ in range(4):  # `Final Answer: The final answer is 7.78.`: the inner marker
            inner = _PHRASE_RE.search(phrase)
            if inner is None:
                break
            phrase = inner.group(1)
        phrase = re.split(r"[.!?]\s+(?=[A-Z])", phrase, maxsplit=1)[0]  # `. I hope it is...`
        return Extraction("phrase", _clean_tail(_first_math(phrase)))
    lines = [ln for ln in region.strip().splitlines() if ln.strip()]
    if lines:
        m = _A_LINE_RE.match(lines[-1])
        if m:
            return Extraction("a_line", _clean_tail(m.group(1)))
    return Extraction("none", None)


def _first_math(phrase: str) -> str:
    """`$10,455$. I hope it is correct.` -> `10,455`: a phrase that opens with math is its
    first math span; any other phrase is kept whole."""
    m = re.match(r"\s*(?:\$\$?(?P<d>[^$]+)\$|\\\((?P<p>.+?)\\\)|\\\[(?P<b>.+?)\\\])", phrase)
    if m is None:
        return phrase
    inner = next(g for g in m.groups() if g is not None).strip()
    # `$18 and $20`: dollar signs as currency, not math delimiters, when words sit between
    words = re.sub(r"\\(?:text\w*|mbox|mathrm)\s*\{[^{}]*\}", "", inner)
    return phrase if re.search(r"(?<![\\A-Za-z])[A-Za-z]{2,}", words) else inner


def extract_gold(gold: str) -> str:
    """The answer part of a gold field: GSM8K `#### n` (commas dropped), the final box of a
    MATH solution (several boxes in its final group are joined as `a, b`), or the field
    itself (AIME integers, MATH-500 answers)."""
    g = str(gold).strip()
    if "####" in g:
        return g.rsplit("####", 1)[1].strip().replace(",", "")
    if "\\boxed" in g or "\\fbox" in g:
        group = list(dict.fromkeys(b.strip() for b in final_box_group(g, loose=True)))
        if group:
            return ", ".join(group)
    return g
