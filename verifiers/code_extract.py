"""Take the program out of model output: the last fenced Python block after the think block,
or the whole answer text when there is no fence."""

from __future__ import annotations

import re

from reasoning_distill.verifiers.math_extract import answer_region

# ```python / ```py / ```Python3 / a bare ``` ; the closing fence may be missing at the end
_FENCE_RE = re.compile(
    r"^[ \t]*```[ \t]*(?P<lang>[A-Za-z0-9_+-]*)[^\n]*\n(?P<body>.*?)(?:^[ \t]*```[ \t]*$|\Z)",
    re.DOTALL | re.MULTILINE,
)
_PY_LANGS = {"", "python", "py", "python3", "py3"}


def python_blocks(text: str) -> list[str]:
    """Bodies of the fenced Python (or untagged) code blocks in `text`, in order."""
    return [
        m.group("body") for m in _FENCE_RE.finditer(text) if m.group("lang").lower() in _PY_LANGS
    ]


def extract_program(completion: str, include_think: bool = False) -> str | None:
    """The program in a completion, or None when there is none (empty, or still thinking)."""
    region = answer_region(completion or "", include_think)
    if region is None:
        return None
    blocks = python_blocks(region)
    code = blocks[-1] if blocks else region
    return code if code.strip() else None
