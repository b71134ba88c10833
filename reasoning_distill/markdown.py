"""Text from data (model names, benchmark names, problem text, reasons) made inert in Markdown.

Every Markdown file the project writes (report.md, gap.md, the dataset card) is rendered by
someone: GitHub, the Hub, an IDE preview, `rich`. Raw HTML passes through most renderers, so a
name like `<img src=x onerror=...>` would run there. `md_text` makes a value plain inline text
(safe in a paragraph, a heading or a table cell), `md_code_span` an inline code span, and
`md_code` a fenced block no line of the value can close.
"""

from __future__ import annotations

import re

# HTML-significant characters become entities: every renderer decodes them to the literal
# character and none opens a tag or an entity from them. Markdown's inline syntax characters
# get a backslash (CommonMark: any ASCII punctuation may be escaped).
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ACTIVE = set("\\`*[]|~")
_UNDERSCORE_INSIDE_WORD = re.compile(r"(?<=[0-9A-Za-z])_(?=[0-9A-Za-z])")


def md_text(value: object) -> str:
    """`value` as literal inline Markdown text, on one line (fit for a table cell).

    Intraword underscores (`max_model_len`) are left alone: CommonMark never reads them as
    emphasis, and the file stays readable as plain text.
    """
    text = " ".join(str(value).split()) if value is not None else ""
    out = []
    for i, ch in enumerate(text):
        if ch in _ENTITIES:
            out.append(_ENTITIES[ch])
        elif ch in _ACTIVE:
            out.append("\\" + ch)
        elif ch == "_" and not _UNDERSCORE_INSIDE_WORD.match(text, i):
            out.append("\\_")
        else:
            out.append(ch)
    return "".join(out)


def _longest_run(text: str, ch: str) -> int:
    return max((len(m) for m in re.findall(f"{re.escape(ch)}+", text)), default=0)


def md_code_span(value: object, *, in_table: bool = True) -> str:
    """`value` as one inline code span (literal inside; newlines become spaces).

    The fence is one backtick longer than any run in the value. In a table cell (GFM) a `|`
    splits the row even inside a code span, so it is escaped there.
    """
    text = " ".join(str(value).splitlines())
    if in_table:
        text = text.replace("|", "\\|")
    fence = "`" * (_longest_run(text, "`") + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_code(value: object, info: str = "") -> list[str]:
    """`value` as a fenced code block (its lines): the fence is longer than any backtick run
    in the value, so no line of it can close the block."""
    text = str(value).rstrip("\n")
    fence = "`" * max(3, _longest_run(text, "`") + 1)
    return [f"{fence}{info}", *text.split("\n"), fence]
