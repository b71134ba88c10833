"""Answers with several parts, as text: the final group of boxes, and one answer split into parts.

Pure string work, no sympy, like `math_extract`. An answer such as `(2, 2), (6, 2)`,
`k = 45, n = 2`, `\\{1, 2, 3\\}` or `x = \\frac{1}{2} \\quad \\text{and} \\quad x = 3` has
several parts; `(3, \\frac{\\pi}{2})`, `[1, 2)`, `10,\\!080` and a matrix have one.

- `box_spans` / `final_box_group`: the boxes that together make a completion's final answer:
  the last box and the boxes before it that only connectors separate (`,`, `and`, `\\quad`,
  `\\text{ for part (a) and }`, a label `y_2 =`, math delimiters). Any other text between
  two boxes (`Wait, it is`) ends the group, so a revised answer is not graded as a set.
- `split_parts`: top-level separators (`,` `;` `\\quad` connector `\\text{}` `and` `or`),
  a set's braces opened, `\\pm` written out as its two values.
- `name_value`: `k = 45` is the part `45` named `k`.
"""

from __future__ import annotations

import re

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*(\{)?")
# Past this many parts an answer is compared as one expression, never part by part: the
# part-by-part comparison costs one math-verify call per pair.
MAX_PARTS = 24

# Words a `\text{}` between two final boxes may hold: connectors and part labels only, so
# `\text{ for part (a) and }` joins two boxes and `\text{ wait, no: }` does not.
_TEXT_WORDS = {
    "and",
    "or",
    "for",
    "part",
    "parts",
    "case",
    "respectively",
    "also",
    "as",
    "well",
    "the",
    "solutions",
    "solution",
    "are",
    "is",
}
_TEXT_CMD_RE = re.compile(r"\\(?:text\w*|mbox|mathrm)\s*\{([^{}]{0,80})\}")
_LABEL_RE = re.compile(r"[A-Za-z](?:_\{?[A-Za-z0-9]+\}?|_[A-Za-z0-9])?'*\s*=")
_GAP_NOISE_RE = re.compile(
    r"\\q?quad|\\[,;:! ]|\\hspace\*?\{[^{}]*\}|\\[()\[\]]|\\\\|\\left|\\right|[$&~]"
    r"|\band\b|\bor\b|[\s,;:]"
)
_LOOSE_SEP_RE = re.compile(r"\b(?:and|or)\b|,|;")
_SENTENCE_END_RE = re.compile(r"[.!?](?:\s|$)|\n\s*\n")


def box_spans(text: str) -> list[tuple[int, int, str | None]]:
    """(start, end, content) of every top-level `\\boxed{...}` / `\\fbox{...}` in order;
    content None for a box that never closes (it runs to the end of the text)."""
    out: list[tuple[int, int, str | None]] = []
    pos = 0
    while True:
        m = _BOX_RE.search(text, pos)
        if m is None:
            return out
        if m.group(1) is None:  # `\boxed 5`: the next token
            tok = re.match(r"\s*([^\s$]+)", text[m.end() :])
            end = m.end() + (tok.end() if tok else 0)
            out.append((m.start(), end, tok.group(1) if tok else None))
            pos = max(end, m.end())
            continue
        end = close_brace(text, m.end())
        if end is None:
            out.append((m.start(), len(text), None))
            return out
        out.append((m.start(), end + 1, text[m.end() : end]))
        pos = end + 1


def close_brace(text: str, start: int) -> int | None:
    """Index of the `}` closing a group whose `{` ends just before `start`; None when the
    group never closes. A backslash escapes the character after it (`\\{` does not open or
    close a group); a backslash that ends the text escapes nothing and closes nothing."""
    depth, i = 1, start
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2  # an escaped brace `\{` does not open or close a group
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _connector_text(m: re.Match) -> str:
    words = re.findall(r"\([a-z0-9]\)|[A-Za-z]+", m.group(1))
    ok = all(w.lower() in _TEXT_WORDS or w.startswith("(") for w in words)
    return " " if ok else "\x00"  # NUL: not a connector, ends the group


def _is_connector(gap: str, loose: bool) -> bool:
    if loose:
        # a gold field's boxes, by math-verify's own rule: close together, or a short phrase
        # with a separator (`\boxed{1} papers and \boxed{2} bins`, but not
        # `\boxed{1} no no no no no \boxed{2}`); a gold is data, not a model revising itself
        if _SENTENCE_END_RE.search(gap):
            return False
        return len(gap) < 10 or (len(gap) < 70 and bool(_LOOSE_SEP_RE.search(gap)))
    if len(gap) > 200:
        return False
    rest = _TEXT_CMD_RE.sub(_connector_text, gap)
    rest = _LABEL_RE.sub(" ", rest)
    rest = _GAP_NOISE_RE.sub("", rest)
    return rest == ""


def final_box_group(text: str, loose: bool = False) -> list[str]:
    """Contents of the boxes that make the final answer of `text`, in order (see the module
    docstring); empty when there is no box or the last box never closes. `loose` lets
    words join boxes (for gold fields)."""
    spans = box_spans(text)
    if not spans or spans[-1][2] is None:
        return []
    group = [spans[-1]]
    for prev in reversed(spans[:-1]):
        if prev[2] is None or not _is_connector(text[prev[1] : group[0][0]], loose):
            break
        group.insert(0, prev)
    return [c for _, _, c in group if c is not None]


_OPEN = "([{"
_CLOSE = ")]}"
_SEP_RE = re.compile(
    r"\\q?quad|\\text\w*\s*\{[^{}]{0,80}\}|\\mbox\{[^{}]{0,80}\}|(?<![A-Za-z\\])(?:and|or)(?![A-Za-z])"
)
_THOUSANDS_RE = re.compile(r"(?:\\[!,]|\{\})\s*\d{3}(?!\d)|\d{3}(?!\d)")
_ENV_RE = re.compile(r"\\begin\s*\{")


def _is_separator_text(cmd: str) -> bool:
    m = re.match(r"\\(?:text\w*|mbox)\s*\{([^{}]*)\}", cmd)
    if m is None:
        return True  # \quad, and, or
    inner = m.group(1)
    return bool(re.fullmatch(r"[\s,;]*", inner) or re.search(r"\b(?:and|or)\b", inner))


def _top_level_pieces(text: str) -> list[str]:
    """Split at separators outside any bracket; `[1, 2)` and `(1, 2]` are single pieces."""
    pieces, depth, start, i = [], 0, 0, 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "{}":
            depth += 1 if text[i + 1] == "{" else -1
            i += 2
            continue
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth = max(0, depth - 1)
        elif depth == 0:
            if c in ",;":
                if (
                    c == ","
                    and i > 0
                    and text[i - 1].isdigit()
                    and _THOUSANDS_RE.match(text, i + 1)
                ):
                    i += 1
                    continue  # `10,080`, `10,\!080`: one number
                pieces.append(text[start:i])
                start = i + 1
            else:
                m = _SEP_RE.match(text, i)
                if m is not None and _is_separator_text(m.group(0)):
                    pieces.append(text[start:i])
                    start = i = m.end()
                    continue
        i += 1
    pieces.append(text[start:])
    return pieces


def _clean(part: str) -> str:
    part = re.sub(r"(?<!\\)\$", "", part)
    part = re.sub(r"^(?:\s|\\[,;!: ]|\\[\[(])+|(?:\s|\\[,;!: ]|\\[\])]|\.)+$", "", part)
    return part.strip()


def _unwrap_set(part: str) -> str | None:
    """The inside of `\\{...\\}`, `\\left\\{...\\right\\}` or `{...}` spanning the whole part."""
    for op, cl in (("\\left\\{", "\\right\\}"), ("\\{", "\\}"), ("{", "}")):
        if part.startswith(op) and part.endswith(cl):
            inner = part[len(op) : len(part) - len(cl)]
            # `{a}+{b}` and `\{1\} \cup \{2\}` are not one set
            return inner if _balanced_set(inner) else None
    return None


def _balanced_set(inner: str) -> bool:
    """No brace (plain or escaped) in `inner` closes a group it did not open."""
    depth, i = 0, 0
    while i < len(inner):
        c = inner[i]
        if c == "\\" and i + 1 < len(inner):
            c = inner[i + 1]
            i += 1
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                return False
        i += 1
    return depth == 0


def _expand_pm(part: str) -> list[str]:
    signs = re.findall(r"\\(?:pm|mp)(?![A-Za-z])", part)
    if len(signs) != 1:
        return [part]  # two `\pm` may or may not move together: leave it to math-verify
    plus, minus = ("+", "-") if signs[0] == "\\pm" else ("-", "+")
    pat = re.compile(r"\\(?:pm|mp)(?![A-Za-z])")
    return [pat.sub(plus, part, count=1), pat.sub(minus, part, count=1)]


def split_parts(answer: str) -> list[str]:
    """The parts of one answer text, in order (one part when it has no separators)."""
    text = _clean(answer)
    if not text or _ENV_RE.search(text):
        return [text] if text else []  # a matrix or cases: `&` and `\\` are not separators
    parts = [p for p in (_clean(x) for x in _top_level_pieces(text)) if p]
    if len(parts) == 1:
        inner = _unwrap_set(parts[0])
        if inner is not None and inner.strip():
            parts = [p for p in (_clean(x) for x in _top_level_pieces(inner)) if p] or parts
    if not parts:  # `\\text{Romeo and Juliet}`: a connector word inside one text, not a list
        return [text]
    out: list[str] = []
    for p in parts:
        out.extend(_expand_pm(p))
    return out


def is_tuple(part: str) -> bool:
    """`(a, b)` / `\\left( a, b \\right)`: an ordered tuple (or an open interval)."""
    p = part.strip()
    if p.startswith("\\left("):
        p = "(" + p[6:]
    if p.endswith("\\right)"):
        p = p[:-7] + ")"
    if not (p.startswith("(") and p.endswith(")")):
        return False
    pieces = _top_level_pieces(p[1:-1])
    return len(pieces) > 1 and _matching_paren(p) == len(p) - 1


def tuple_items(part: str) -> list[str]:
    p = part.strip()
    p = p[6:] if p.startswith("\\left(") else p[1:]
    p = p[:-7] if p.endswith("\\right)") else p[:-1]
    return [_clean(x) for x in _top_level_pieces(p)]


def _matching_paren(p: str) -> int | None:
    depth = 0
    for i, c in enumerate(p):
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
            if depth == 0:
                return i
    return None


_NAME_RE = re.compile(r"^\s*(\\?[A-Za-z]+(?:_\{?[A-Za-z0-9]+\}?)?'*)\s*=(?!=)\s*(.+)$", re.DOTALL)


def name_value(part: str) -> tuple[str | None, str]:
    """(`k`, `45`) for `k = 45`; (None, part) for a part that names nothing."""
    m = _NAME_RE.match(part)
    if m is None or "=" in m.group(2):
        return None, part
    name = re.sub(r"[{}\s]", "", m.group(1))
    return name, m.group(2).strip()
