"""The prompt a problem is asked with: one builder for `rdistill generate` and `rdistill eval`.

A math problem is asked to put its final answer in `\\boxed{}` (DeepSeek-R1's evaluation
instruction, `MATH_TEMPLATE`): the math verifier and the format check read the last box, so
a teacher sampled without it answers in prose, and its traces would not match the prompts
the students are evaluated on. Code problems are sent as they are (`PLAIN_TEMPLATE`); the
code benchmarks carry their own instructions.

A template is plain text holding `{problem}` once or more; the question replaces it and
nothing else is interpreted (braces in LaTeX stay as written). The template used is stated
in the generation folder's manifest and, per benchmark, in eval's manifest, as
`{"sha256", "text"}` (`template_entry`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from reasoning_distill.errors import ConfigError
from reasoning_distill.records import Problem

PLACEHOLDER = "{problem}"
MATH_TEMPLATE = (
    "{problem}\n\nPlease reason step by step, and put your final answer within \\boxed{}."
)
PLAIN_TEMPLATE = PLACEHOLDER
# Names `--prompt-template` takes besides a template's text.
NAMED_TEMPLATES = {"boxed": MATH_TEMPLATE, "plain": PLAIN_TEMPLATE}
# "auto": what each kind of problem is asked with unless told otherwise.
DEFAULT_TEMPLATES = {"math": MATH_TEMPLATE, "code": PLAIN_TEMPLATE}


def resolve_template(spec: str | None, kind: str) -> str:
    """The template text for `spec`: "auto"/None (the kind's default), a name of
    `NAMED_TEMPLATES`, or a template's own text (which must hold `{problem}`)."""
    if spec is None or spec == "auto":
        if kind not in DEFAULT_TEMPLATES:
            raise ConfigError(f"kind must be one of {', '.join(DEFAULT_TEMPLATES)}, got {kind!r}")
        return DEFAULT_TEMPLATES[kind]
    if spec in NAMED_TEMPLATES:
        return NAMED_TEMPLATES[spec]
    if PLACEHOLDER not in spec:
        names = ", ".join(["auto", *NAMED_TEMPLATES])
        raise ConfigError(
            f"prompt template must be one of {names} or a text holding {PLACEHOLDER}, got {spec!r}"
        )
    return spec


def build_prompt(question: str, template: str) -> str:
    """`question` put into `template` (every `{problem}` replaced; nothing else is read)."""
    return template.replace(PLACEHOLDER, question)


def apply_template(problems: Iterable[Problem], template: str) -> list[Problem]:
    """`problems` with their prompts built from `template`; the question as given is kept in
    `meta["question"]` (unless the input already named one)."""
    if template == PLAIN_TEMPLATE:
        return list(problems)
    out = []
    for p in problems:
        meta = dict(p.meta)
        meta.setdefault("question", p.prompt)
        out.append(replace(p, prompt=build_prompt(p.prompt, template), meta=meta))
    return out


def template_entry(template: str | None) -> dict[str, Any] | None:
    """`{"sha256", "text"}` of a template, as the manifests state it (None: no template)."""
    if template is None:
        return None
    return {"sha256": hashlib.sha256(template.encode("utf-8")).hexdigest(), "text": template}
