"""The runner marks the verdicts the format check decided, and reads the think block's opening
from the rendered prompt."""

from __future__ import annotations

from reasoning_distill.verification import VerifyOptions
from reasoning_distill.verification.runner import DECIDED_BY, Item, item_of, iter_verdicts
from tests.samples import make_sample


def _verdicts(items, **options):
    return {it.key: v for it, v in iter_verdicts(items, VerifyOptions(**options), workers=1)}


def test_format_failures_are_marked_and_answer_failures_are_not():
    items = [
        Item(("a", 0), "math", "<think>x</think> \\boxed{4}", "4", "stop"),
        Item(("b", 0), "math", "<think>x</think> \\boxed{5}", "4", "stop"),
        Item(("c", 0), "math", "The answer is \\boxed{4}", "4", "stop"),
        Item(("d", 0), "math", "<think>x</think> \\boxed{4}", "4", "length"),
    ]
    got = _verdicts(items)
    assert [got[k].reason for k in sorted(got)] == ["ok", "wrong_answer", "no_think", "truncated"]
    assert [got[k].details.get(DECIDED_BY) for k in sorted(got)] == [None, None, "format", "format"]
    # Without the format check the answer alone decides: nothing is marked.
    loose = _verdicts(items, check_format=False)
    assert loose[("c", 0)].correct and loose[("d", 0)].correct
    assert not [v for v in loose.values() if DECIDED_BY in v.details]


def test_item_of_reads_an_opened_think_block_from_the_prompt():
    ask = dict(completion="so \\boxed{4}", gold="4", kind="math")
    opened = item_of(
        make_sample(problem_id="o", prompt="<|User|>2+2?<|Assistant|><think>\n", **ask)
    )
    plain = item_of(make_sample(problem_id="p", prompt="<|User|>2+2?<|Assistant|>", **ask))
    assert opened.think_opened and not plain.think_opened
    got = _verdicts([opened, plain])
    assert got[opened.key].reason == "unclosed_think" and got[plain.key].reason == "no_think"


def test_the_format_check_demands_a_box_only_when_unboxed_answers_are_refused():
    items = [
        Item(("h", 0), "math", "<think>x</think> 7 * 4 = 28\n#### 28", "28", "stop"),
        Item(("p", 0), "math", "<think>x</think> The answer is 28.", "28", "stop"),
        Item(("b", 0), "math", "<think>x</think> \\boxed{28} or \\boxed{27}", "28", "stop"),
    ]
    for unboxed in ("markers", "math_verify"):
        got = _verdicts(items, unboxed=unboxed)
        assert got[("h", 0)].correct and got[("p", 0)].correct, unboxed
        assert got[("b", 0)].reason == "multiple_answers"
    strict = _verdicts(items, unboxed="refuse")
    assert [strict[k].reason for k in (("h", 0), ("p", 0))] == ["no_answer", "no_answer"]
    assert strict[("h", 0)].details.get(DECIDED_BY) == "format"
