"""Split a completion into its reasoning (inside <think>...</think>) and its final answer."""

from __future__ import annotations

from dataclasses import dataclass

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


@dataclass(frozen=True)
class ParsedCompletion:
    reasoning: str | None  # None when the completion has no think block at all
    answer: str
    think_closed: bool


def split_reasoning(text: str, think_in_prompt: bool = False) -> ParsedCompletion:
    """Parse `<think>reasoning</think>answer`.

    `think_in_prompt` handles templates that open the think block in the prompt
    (DeepSeek-R1-Distill's does): the completion then starts inside the block. An unclosed
    block leaves the answer empty, since nothing after it is a committed answer.
    """
    start = 0
    if think_in_prompt:
        opened = True
    else:
        i = text.find(THINK_OPEN)
        opened = i != -1 and not text[:i].strip()
        if opened:
            start = i + len(THINK_OPEN)
    if not opened:
        return ParsedCompletion(reasoning=None, answer=text.strip(), think_closed=False)
    j = text.find(THINK_CLOSE, start)
    if j == -1:
        return ParsedCompletion(reasoning=text[start:].strip(), answer="", think_closed=False)
    return ParsedCompletion(
        reasoning=text[start:j].strip(),
        answer=text[j + len(THINK_CLOSE) :].strip(),
        think_closed=True,
    )


def prompt_opens_think(prompt: str) -> bool:
    """Whether the rendered prompt ends inside an open think block: DeepSeek-R1-Distill's
    template ends it with "<think>\n", so the completion starts inside the reasoning."""
    tail = prompt.rstrip()
    return tail.endswith(THINK_OPEN) and THINK_CLOSE not in tail[-len(THINK_OPEN) - 16 :]
