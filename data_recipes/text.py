"""Text normalisation shared by deduplication and decontamination.

Two problems are "the same text" when they differ only in case, whitespace, punctuation,
LaTeX spacing (`\\,`, `\\quad`, `\\left(`), dollar signs, thousands separators (`1,000`)
or trailing decimal zeros (`3.50`): `words()` maps all of those to one word sequence.
Arithmetic operators are words of their own: "7-5+8" and "7+5-8" are different problems.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_LATEX_SPACING = re.compile(r"\\(?:[,;:! ]|quad|qquad|left|right|displaystyle|big|Big)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_TRAILING_ZEROS = re.compile(r"(?<=\d)\.(\d*?)0+(?!\d)")
_WORD = re.compile(r"[^\W_]+|[-+*/=<>^]")


def _strip_zeros(m: re.Match) -> str:
    return "." + m.group(1) if m.group(1) else ""


def normalise(text: str) -> str:
    """Case-folded text with LaTeX spacing, thousands separators and decimal zeros removed."""
    # each step only where it can change something: this runs on every training problem
    text = text.casefold() if text.isascii() else unicodedata.normalize("NFKC", text).casefold()
    if "\\" in text:
        text = _LATEX_SPACING.sub(" ", text)
    if "," in text:
        text = _THOUSANDS.sub("", text)
    if "." in text:
        text = _TRAILING_ZEROS.sub(_strip_zeros, text)
    return text


def words(text: str) -> list[str]:
    """The normalised word sequence of `text`: runs of letters and digits, and operators."""
    return _WORD.findall(normalise(text))


def text_key(text: str) -> str:
    """A short hash of the normalised words: equal for texts that differ only in form."""
    return hashlib.blake2b(" ".join(words(text)).encode(), digest_size=12).hexdigest()


def ngrams(tokens: list[str], n: int) -> list[str]:
    return [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
