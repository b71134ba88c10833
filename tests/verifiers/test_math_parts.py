"""Answers with several parts: how the final answer and the gold split into parts, and how
they are graded (sets, names, ordered tuples, last-box-wins for one part), plus the opt-in
extraction for completions without a box."""

import json

import pytest
from reasoning_distill.verifiers import extract_answer, extract_gold, verify_math, verify_math_batch
from reasoning_distill.verifiers.math_extract import last_boxed
from reasoning_distill.verifiers.math_parts import (
    box_spans,
    close_brace,
    final_box_group,
    split_parts,
)

from tests.benchmark_files import SHARED_BENCHMARKS

R1 = "<think>\nTry x = 1: no. Try 2: yes, and 3 too. Maybe \\boxed{7}?\n</think>\n\n"

CASES = [
    # (completion, gold, correct, reason, method)
    # several boxes in the final answer, order-insensitive
    (
        R1 + r"$$\boxed{(6, 2)} \quad \text{and} \quad \boxed{(2, 2)}$$",
        "(2, 2), (6, 2)",
        True,
        "ok",
        "boxes",
    ),
    (R1 + r"\boxed{3} and \boxed{1} and \boxed{2}", "{1,2,3}", True, "ok", "boxes"),
    (R1 + r"\boxed{1},\boxed{2},\boxed{3}", r"\{1, 2, 3\}", True, "ok", "boxes"),
    (R1 + r"\boxed{1} and \boxed{2}", "1, 2, 3", False, "wrong_answer", "boxes"),
    (R1 + r"\boxed{1}, \boxed{2}, \boxed{4}", "1, 2", False, "wrong_answer", "boxes"),
    (
        R1 + r"\boxed{(3, 3)} \text{ for part (a) and } \boxed{(1, 1)}",
        "(3, 3), (1, 1)",
        True,
        "ok",
        "boxes",
    ),
    (
        R1 + r"\(y_1 = \boxed{2x+1}\) and \(y_2 = \boxed{x^2}\)",
        r"y_1 = x^2, y_2 = 1 + 2x",
        True,
        "ok",
        "boxes",
    ),
    # one box with several parts, a set's braces, repeats
    (R1 + r"$\boxed{2, 1}$", r"\boxed{1}\boxed{2}", True, "ok", "boxed"),
    (R1 + r"$\boxed{-2,1}$.", r"\(\boxed{1}\) and \(\boxed{-2}\).", True, "ok", "boxed"),
    (R1 + r"\boxed{\{-1, 0, 1, 1\}}", "-1;0;1", True, "ok", "boxed"),
    (R1 + r"\boxed{1 \text{ or } 2}", "2, 1", True, "ok", "boxed"),
    (R1 + r"\boxed{1, 2}", r"\boxed{1} papers and \boxed{2} bins", True, "ok", "boxed"),
    # a gold whose boxes no separator joins has one part, its last box
    (R1 + r"\boxed{1, 2}", r"\boxed{1} no no no no no \boxed{2}", False, "wrong_answer", "boxed"),
    # names count when both sides name the variable; a bare value matches by value
    (
        R1 + r"\boxed{n = 2} \quad \text{and} \quad \boxed{k = 45}",
        "k = 45, n = 2",
        True,
        "ok",
        "boxes",
    ),
    (
        R1 + r"\boxed{k = 2} \quad \text{and} \quad \boxed{n = 45}",
        "k = 45, n = 2",
        False,
        "wrong_answer",
        "boxes",
    ),
    (R1 + r"\boxed{45} \quad \text{and} \quad \boxed{2}", "k = 45, n = 2", True, "ok", "boxes"),
    (R1 + r"\boxed{x = 2}, \boxed{x = 3}", r"x_{1}=3, x_{2}=2", True, "ok", "boxes"),
    (R1 + r"\boxed{y_1 = 2}, \boxed{y_2 = 3}", r"y_{1}=3, y_{2}=2", False, "wrong_answer", "boxes"),
    # golds written as equations, with \pm, \text{} and \quad separators
    (
        R1 + r"$$\boxed{x = \frac{1}{2}, x = \frac{-1 \pm \sqrt{13}}{4}}$$",
        r"$$x = \frac{1}{2}, x = \frac{-1 \pm \sqrt{13}}{4}$$",
        True,
        "ok",
        "boxed",
    ),
    (
        R1
        + r"\boxed{x = \frac{-1 - \sqrt{13}}{4}}, \boxed{x = 0.5}, \boxed{x = \frac{-1 + \sqrt{13}}{4}}",
        r"x = \frac{1}{2}, x = \frac{-1 \pm \sqrt{13}}{4}",
        True,
        "ok",
        "boxes",
    ),
    (
        R1 + r"\boxed{x = \frac{1}{2}}",
        r"x = \frac{1}{2}, x = \frac{-1 \pm \sqrt{13}}{4}",
        False,
        "wrong_answer",
        "boxed",
    ),
    (R1 + r"\boxed{2} \quad \boxed{3}", r"x_{1}=3,\quadx_{2}=2", True, "ok", "boxes"),
    (R1 + r"\boxed{2}, \boxed{3}", r"2 \text{ and } 3", True, "ok", "boxes"),
    # an ordered tuple: one box compared as a tuple, or its items boxed in order
    (
        R1 + r"\boxed{3}, \boxed{\frac{\pi}{2}}",
        r"\left( 3, \frac{\pi}{2} \right)",
        True,
        "ok",
        "boxes",
    ),
    # out of order: then the last box alone is the answer, as for any gold with one part
    (
        R1 + r"\boxed{\frac{\pi}{2}}, \boxed{3}",
        r"\left( 3, \frac{\pi}{2} \right)",
        False,
        "wrong_answer",
        "boxed",
    ),
    (
        R1 + r"\boxed{(3, \pi/2)} and \boxed{(3, \pi/2)}",
        r"\left( 3, \frac{\pi}{2} \right)",
        True,
        "ok",
        "boxed",
    ),
    (
        R1 + r"\boxed{(\frac{\pi}{2}, 3)}",
        r"\left( 3, \frac{\pi}{2} \right)",
        False,
        "wrong_answer",
        "boxed",
    ),
    (R1 + r"\boxed{(2, 1)}, \boxed{(1, 2)}", "(1, 2), (2, 1)", True, "ok", "boxes"),
    (R1 + r"\boxed{(2, 1)}", "(1, 2)", False, "wrong_answer", "boxed"),
    # an interval is one part
    (R1 + r"\boxed{1}, \boxed{2}", "[1, 2)", False, "wrong_answer", "boxed"),
    # one part: the last box wins, a revised answer is graded on the revision
    (R1 + r"So \boxed{3}. Wait, that is wrong: \boxed{4}", "4", True, "ok", "boxed"),
    (R1 + r"So \boxed{3}. Wait, that is wrong: \boxed{4}", "3", False, "wrong_answer", "boxed"),
    (R1 + r"\boxed{1} and \boxed{2}", "2", True, "ok", "boxed"),
    # a revision is not a list: text other than connectors ends the final group
    (R1 + r"\boxed{1}. Hmm, no: \boxed{2}", "1, 2", False, "wrong_answer", "boxed"),
    (R1 + r"\boxed{1} \text{ wait, no } \boxed{2}", "1, 2", False, "wrong_answer", "boxed"),
    # a garbled box never falls back to a number elsewhere
    (R1 + r"The answer is 5, so \boxed{~5}", "5", False, "unparseable_answer", "boxed"),
    (R1 + r"1 and 2, so \boxed{~}", "1, 2", False, "unparseable_answer", "boxed"),
    (R1 + r"1 and 2, so \boxed{1, 2", "1, 2", False, "unparseable_answer", "unclosed_box"),
    # thousands separators are not lists
    (R1 + r"\boxed{10080}", r"10,\!080", True, "ok", "boxed"),
    (R1 + r"\boxed{58,500}", "58,500", True, "ok", "boxed"),
    (R1 + r"\boxed{58, 500}", "58,500", False, "wrong_answer", "boxed"),
    # a boxed matrix over lines, with a trailing \end{align*}
    (
        "\\begin{align*}\nM &= \\boxed{\n\\begin{pmatrix} 0 & 3 \\\\ 0 & -1 \\end{pmatrix}\n}.\n\\end{align*}",
        r"\begin{pmatrix} 0 & 3 \\ 0 & -1 \end{pmatrix}",
        True,
        "ok",
        "boxed",
    ),
    (
        "\\boxed{\n\\begin{pmatrix} 0 & 3 \\\\ 0 & 1 \\end{pmatrix}\n}.\n\\end{align*}",
        r"\begin{pmatrix} 0 & 3 \\ 0 & -1 \end{pmatrix}",
        False,
        "wrong_answer",
        "boxed",
    ),
]


@pytest.mark.parametrize("completion,gold,correct,reason,method", CASES)
def test_multi_part_cases(completion, gold, correct, reason, method):
    v = verify_math(completion, gold)
    assert (v.correct, v.reason, v.details.get("method")) == (correct, reason, method), v


def test_batch_gives_the_same_verdicts():
    out = verify_math_batch([c[0] for c in CASES], [c[1] for c in CASES], workers=2)
    assert [(v.correct, v.reason) for v in out] == [(c[2], c[3]) for c in CASES]


UNBOXED = [
    # (completion, gold, default (correct, method), math_verify (correct, method))
    (
        "Adding both gives $10,200 + $255 = $10,455. Final Answer: The final answer is $10,455$. I hope it is correct.",
        "10455",
        (True, "phrase"),
        (True, "phrase"),
    ),
    (
        "Natalia sold 48/2 = 24 clips in May.\n48+24 = 72\n#### 72",
        "72",
        (True, "hash"),
        (True, "hash"),
    ),
    (
        r"So the probability is $\frac{3}{4}$.",
        r"\frac{3}{4}",
        (False, "none"),
        (True, "math_verify_latex"),
    ),
    (
        r"So the roots are $x = 1$ and $x = 2$.",
        "1, 2",
        (False, "none"),
        (True, "math_verify_latex"),
    ),
    ("She has 42 apples left over.", "42", (False, "none"), (True, "math_verify_expr")),
    ("She has 41 apples left over.", "42", (False, "none"), (False, "math_verify_expr")),
    ("I cannot tell.", "42", (False, "none"), (False, "none")),
    # a marker inside a marker: the inner one
    (
        "Final Answer: The final answer is 7.78. I hope it is correct.",
        "7.78",
        (True, "phrase"),
        (True, "phrase"),
    ),
    # a marker that caught a sentence: the default grades what it caught, the opt-in asks
    # math-verify instead
    ("Final Answer: The largest $n$ is 34.", "34", (False, "phrase"), (True, "math_verify_expr")),
    # a box is never overridden by the opt-in extraction
    (r"\boxed{~3} so it is $3$", "3", (False, "boxed"), (False, "boxed")),
]


@pytest.mark.parametrize("completion,gold,default,opt_in", UNBOXED)
def test_unboxed_extraction_is_opt_in_and_recorded(completion, gold, default, opt_in):
    v = verify_math(completion, gold)
    assert (v.correct, v.details["method"]) == default, v
    v = verify_math(completion, gold, unboxed="math_verify")
    assert (v.correct, v.details["method"]) == opt_in, v


def test_unknown_unboxed_mode_is_refused():
    with pytest.raises(ValueError, match="unboxed='everything'"):
        verify_math_batch(["\\boxed{1}"], ["1"], unboxed="everything")


def test_a_long_completion_keeps_its_whole_final_group():
    long = R1 + "blah " * 30_000 + r"\boxed{2} and \boxed{1}"
    assert len(long) > 80_000
    v = verify_math(long, "1, 2")
    assert v.correct and v.details["method"] == "boxes", v


def test_pathological_parts_end_in_a_verdict_within_the_deadline():
    comps = [r"\boxed{9^{9^{9^{9}}}}, \boxed{2}", r"\boxed{(10^{100})!} and \boxed{1}"]
    out = verify_math_batch(comps, ["1, 2", "1, 2"], timeout_s=3, workers=2)
    assert all(not v.correct and v.reason in ("timeout", "wrong_answer") for v in out), out


def test_split_parts_and_final_box_group():
    assert split_parts(r"(2, 2), (6, 2)") == ["(2, 2)", "(6, 2)"]
    assert split_parts(r"\{1\pm\sqrt{5},-2\}") == [r"1+\sqrt{5}", r"1-\sqrt{5}", "-2"]
    assert split_parts(r"(11,7)or(7,11)") == ["(11,7)", "(7,11)"]
    assert split_parts(r"x_{1}=3,\quadx_{2}=2") == ["x_{1}=3", "x_{2}=2"]
    for one in [
        r"\left( 3, \frac{\pi}{2} \right)",
        "[1,2)",
        r"(0,9) \cup (9,36)",
        r"10,\!080",
        r"5 \text{ cm}",
        r"\text{Romeo and Juliet}",
        r"\begin{pmatrix} 1 & 2 \end{pmatrix}",
    ]:
        assert split_parts(one) == [one], one
    assert final_box_group(r"\boxed{1} and \boxed{2} \quad \boxed{3}.") == ["1", "2", "3"]
    assert final_box_group(r"\boxed{1}. Hmm, \boxed{2}") == ["2"]
    assert final_box_group(r"\boxed{1} and \boxed{2") == []
    assert extract_answer(r"\boxed{1}, \boxed{2}").boxes == ("1", "2")
    assert extract_gold(r"So $x=\boxed{1}$ or $x=\boxed{2}$.") == "1, 2"
    assert extract_gold(r"\boxed{004}. Check again: \boxed{004}") == "004"


def _math500():
    path = SHARED_BENCHMARKS / "math500_test.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_math500_golds_with_several_parts_accept_their_parts_boxed_in_any_order():
    golds = [r["answer"] for r in _math500() if len(split_parts(r["answer"])) > 1]
    assert len(golds) >= 5  # `1,-2`, `3, 5, 7`, `1 \pm \sqrt{19}`, `\{1\pm\sqrt{5},-2\}`...
    shuffled = [", ".join(f"\\boxed{{{p}}}" for p in reversed(split_parts(g))) for g in golds]
    assert all(v.correct for v in verify_math_batch(shuffled, golds)), golds
    missing_one = [", ".join(f"\\boxed{{{p}}}" for p in split_parts(g)[1:]) for g in golds]
    assert not any(v.correct for v in verify_math_batch(missing_one, golds))


def test_math500_solutions_as_golds_give_their_answer():
    # a whole MATH solution as the gold: its final group of boxes is the answer
    rows = _math500()
    out = verify_math_batch(
        [f"\\boxed{{{r['answer']}}}" for r in rows], [r["solution"] for r in rows]
    )
    bad = [
        (r["id"], r["answer"], v.reason) for r, v in zip(rows, out, strict=True) if not v.correct
    ]
    assert bad == []


@pytest.mark.parametrize(
    "completion,gold,correct",
    [
        (r"\boxed{(3, -4)}", "(3,-4)", True),
        (r"\boxed{(3, -5)}", "(3,-4)", False),
        (r"\boxed{(3, -4, 1)}", "(3,-4)", False),
        (r"\boxed{(\frac{6}{2}, -4)}", "(3,-4)", True),
        (r"\boxed{(-4, 3)}, \boxed{(1, 2)}", "(1, 2), (-4, 3)", True),
        (r"\boxed{(-4, 3)}, \boxed{(2, 1)}", "(1, 2), (-4, 3)", False),
    ],
)
def test_tuples_of_numbers_compare_exactly(completion, gold, correct):
    assert verify_math(completion, gold).correct is correct


@pytest.mark.parametrize(
    "text, end",
    [
        ("7}", 1),
        ("{1}{2}}", 6),
        (r"\{1\}}", 5),  # escaped braces neither open nor close
        (r"\}", None),  # an escaped close brace leaves the group open
        ("7", None),
        ("7\\", None),  # a backslash that ends the text closes nothing
        ("", None),
    ],
)
def test_the_one_brace_matcher_up_to_the_end_of_the_text(text, end):
    assert close_brace(text, 0) == end


def test_a_box_cut_after_a_backslash_is_unclosed_for_both_readers():
    text = "so \\boxed{7\\"
    assert last_boxed(text) == (None, True)
    assert box_spans(text) == [(3, len(text), None)]
    assert last_boxed("\\boxed{7}\\") == ("7", True)
