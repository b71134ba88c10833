"""Format checks: is a completion shaped like a trace we may train on?

Closed think block, not cut off by the length limit, exactly one final answer, and optional
length and language limits. Cheap string checks, no process or sandbox: run them first and
compose with the answer verifiers through `all_of`.
"""

from __future__ import annotations

import re
import unicodedata

from reasoning_distill.verifiers.code_extract import python_blocks
from reasoning_distill.verifiers.math_extract import THINK_CLOSE, THINK_OPEN
from reasoning_distill.verifiers.verdict import (
    MALFORMED_THINK,
    MULTIPLE_ANSWERS,
    NO_ANSWER,
    NO_THINK,
    TOO_LONG,
    TRUNCATED,
    UNCLOSED_THINK,
    WRONG_LANGUAGE,
    Verdict,
)

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\b")
# finish reasons that mean the model did not stop by itself
_CUT_OFF = {"length", "max_tokens", "abort", "aborted", "timeout"}
# script of each language we can check by letters alone
_SCRIPTS = {"en": "LATIN", "latin": "LATIN", "zh": "CJK", "cjk": "CJK", "ru": "CYRILLIC"}


def script_share(text: str, script: str) -> float:
    """Share of the letters in `text` whose Unicode name starts with `script` (1.0 if none)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 1.0
    hits = sum(1 for c in letters if unicodedata.name(c, "").startswith(script))
    return hits / len(letters)


def check_format(
    completion: str,
    finish_reason: str | None = None,
    *,
    require_think: bool = True,
    think_opened: bool = False,
    answer: str | None = "auto",
    max_chars: int | None = None,
    max_tokens: int | None = None,
    num_tokens: int | None = None,
    language: str | None = None,
    min_language_share: float = 0.95,
) -> Verdict:
    """Verdict on the shape of a completion.

    - `finish_reason` `length` (or another cut-off) -> `truncated`;
    - `require_think`: exactly one `</think>`, after any `<think>` -> else `no_think` (neither
      tag: the model did not reason), `unclosed_think` (opened, never closed) or
      `malformed_think`; `think_opened`: the prompt opened the block (the completion starts
      inside it), so a completion with no tag at all is `unclosed_think`;
    - `answer`: `boxed` (exactly one `\\boxed{}` after the think block), `math` (at most one
      box: an answer without one is left to the math verifier, which reads `####` and the
      other answer markers), `code` (exactly one fenced Python block after it), `auto` (the
      default: boxed when the answer has a box, else code) or None (no check) -> `no_answer`
      / `multiple_answers`;
    - `max_chars`, or `max_tokens` with the `num_tokens` the engine reported -> `too_long`;
    - `language` (`en`, `zh`, `ru`): at least `min_language_share` of the letters in that
      script -> else `wrong_language` (catches the language mixing of R1-style traces).
    """
    text = completion or ""
    if finish_reason is not None and finish_reason.lower() in _CUT_OFF:
        return Verdict.fail(TRUNCATED, None, finish_reason=finish_reason)
    closes, opens = text.count(THINK_CLOSE), text.count(THINK_OPEN)
    if require_think:
        if closes == 0 and opens == 0 and not think_opened:
            return Verdict.fail(NO_THINK, None)
        if closes == 0:
            return Verdict.fail(UNCLOSED_THINK, None, think_open=opens)
        if closes > 1 or opens > 1 or (opens and text.index(THINK_OPEN) > text.index(THINK_CLOSE)):
            return Verdict.fail(MALFORMED_THINK, None, think_open=opens, think_close=closes)
    elif opens > closes:
        return Verdict.fail(UNCLOSED_THINK, None, think_open=opens)
    if max_chars is not None and len(text) > max_chars:
        return Verdict.fail(TOO_LONG, None, chars=len(text), max_chars=max_chars)
    if max_tokens is not None and num_tokens is not None and num_tokens > max_tokens:
        return Verdict.fail(TOO_LONG, None, tokens=num_tokens, max_tokens=max_tokens)
    final = text.rsplit(THINK_CLOSE, 1)[1] if closes else text
    if answer is not None:
        if answer not in ("auto", "boxed", "math", "code"):
            raise ValueError(
                "check_format: answer must be 'auto', 'boxed', 'math', 'code' or None, "
                f"got {answer!r}"
            )
        n = len(_BOX_RE.findall(final)) if answer != "code" else 0
        if answer == "code" or (answer == "auto" and n == 0):
            n = len(python_blocks(final))
        if n == 0 and answer != "math":
            return Verdict.fail(NO_ANSWER, None, answer=answer)
        if n > 1:
            return Verdict.fail(MULTIPLE_ANSWERS, None, answer=answer, count=n)
    if language is not None:
        script = _SCRIPTS.get(language.lower())
        if script is None:
            raise ValueError(
                f"check_format: language must be one of {sorted(_SCRIPTS)}, got {language!r}"
            )
        share = script_share(text, script)
        if share < min_language_share:
            return Verdict.fail(WRONG_LANGUAGE, None, language=language, share=round(share, 4))
    return Verdict.ok(None)
