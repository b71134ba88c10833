"""One prompt builder for generate and eval: a math problem is asked to box its answer."""

from __future__ import annotations

import json

import pytest
from reasoning_distill.eval.benchmarks import get_benchmark, load_benchmark

from reasoning_distill.errors import ConfigError
from reasoning_distill.generation.prompts import (
    MATH_TEMPLATE,
    apply_template,
    build_prompt,
    resolve_template,
    template_entry,
)
from reasoning_distill.records import Problem


def test_eval_asks_a_math_problem_with_the_shared_template(tmp_path):
    row = {"question": "Tom has {3} apples, $x^{2}$ pears.", "answer": "#### 5"}
    (tmp_path / "gsm8k_test.jsonl").write_text(json.dumps(row) + "\n")
    [p] = load_benchmark("gsm8k", tmp_path)
    assert p.prompt == build_prompt(row["question"], MATH_TEMPLATE)
    assert p.prompt.endswith("put your final answer within \\boxed{}.")
    assert p.prompt.startswith(row["question"])  # braces in the question are left alone
    # What eval's manifest states is the text that made the prompt.
    assert get_benchmark("gsm8k").prompt_template == MATH_TEMPLATE


@pytest.mark.parametrize(
    "spec,kind,want",
    [
        ("auto", "math", MATH_TEMPLATE),
        (None, "math", MATH_TEMPLATE),
        ("auto", "code", "{problem}"),
        ("plain", "math", "{problem}"),
        ("boxed", "code", MATH_TEMPLATE),
        ("Q: {problem}\nA:", "math", "Q: {problem}\nA:"),
    ],
)
def test_resolve_template(spec, kind, want):
    assert resolve_template(spec, kind) == want


def test_a_template_without_the_problem_is_refused():
    with pytest.raises(ConfigError, match=r"\{problem\}"):
        resolve_template("Solve it.", "math")


def test_apply_keeps_the_question_and_leaves_plain_problems_alone():
    ps = [Problem("a", "2 + 3?", "5"), Problem("b", "1 + 1?", "2", meta={"question": "given"})]
    boxed = apply_template(ps, MATH_TEMPLATE)
    assert [p.prompt for p in boxed] == [build_prompt(p.prompt, MATH_TEMPLATE) for p in ps]
    assert [p.meta["question"] for p in boxed] == ["2 + 3?", "given"]
    assert apply_template(ps, "{problem}") == ps
    assert template_entry(None) is None and template_entry("{problem}")["text"] == "{problem}"
