"""Math verification on real-looking model output, its traps, and the batch pool."""

import threading

import pytest
from reasoning_distill.verifiers import (
    Verdict,
    all_of,
    extract_answer,
    extract_gold,
    verify_math,
    verify_math_batch,
)

R1 = "<think>\nLet me add: 1/3 + 1/4 + 1/3 = 11/12. Wait, maybe 7?\n</think>\n\n"

CASES = [
    # (completion, gold, correct, reason)
    (R1 + r"The answer is \boxed{\frac{11}{12}}", r"\frac{11}{12}", True, "ok"),
    (R1 + r"The answer is \boxed{\dfrac{11}{12}}.", r"\frac{11}{12}", True, "ok"),
    (R1 + r"**Final Answer**\n\[\boxed{-3}\]", "-3", True, "ok"),
    (r"So 20 + 7 = 27. The answer is \boxed{~2}", "27", False, "unparseable_answer"),
    (r"The answer is \boxed{27", "27", False, "unparseable_answer"),
    ("Natalia sold 48/2 = 24 clips in May.\n48+24 = 72\n#### 72", "72", True, "ok"),
    ("Janet makes 9 * 2 = $18 every day.\n#### 18", "He sells... #### 18", True, "ok"),
    ("The answer is 1,000.", "1000", True, "ok"),
    (r"$\boxed{1{,}000}$", "1000", True, "ok"),
    ("Final answer: 17", "17", True, "ok"),
    ("Step 1... Step 2...\nA: 42", "42", True, "ok"),
    (r"\boxed{0.5}", r"\frac{1}{2}", True, "ok"),
    (r"\boxed{50\%}", "0.5", True, "ok"),
    (r"\boxed{[1, 2)}", r"[1,2)", True, "ok"),
    (r"\boxed{(1, 2]}", r"[1,2)", False, "wrong_answer"),
    (r"\boxed{\{2, 1\}}", r"\{1,2\}", True, "ok"),
    (r"\boxed{\left( 3, \frac{\pi}{2} \right)}", r"\left( 3, \frac{\pi}{2} \right)", True, "ok"),
    (
        r"\boxed{\begin{pmatrix} 1 \\ 2 \end{pmatrix}}",
        r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}",
        True,
        "ok",
    ),
    (r"\boxed{5 \text{ cm}}", "5", True, "ok"),
    (r"\boxed{\text{Evelyn}}", r"\text{Evelyn}", True, "ok"),
    (r"\boxed{\textbf{(C)}}", r"\text{(C)}", True, "ok"),
    (r"\boxed{B}", r"\text{(C)}", False, "wrong_answer"),
    (r"\boxed{\frac{\sqrt{2}}{2}}", r"\frac{1}{\sqrt{2}}", True, "ok"),
    (r"\boxed{16}", "017", False, "wrong_answer"),
    (r"\boxed{17}", "017", True, "ok"),
    ("I am not sure.", "17", False, "no_answer"),
    ("<think>the answer is \\boxed{5} hmm wait", "5", False, "no_answer"),
    (r"\boxed{5}", "", False, "unparseable_gold"),
    # the last box counts, and the boxes inside the think block do not
    (r"<think>\boxed{4}</think> so \boxed{5}", "5", True, "ok"),
    (r"<think>\boxed{5}</think> The answer is \boxed{4}", "5", False, "wrong_answer"),
    # MATH-style gold: a whole solution with a box
    (r"\boxed{9}", r"So $x = 3$ and $x^2 = \boxed{9}$.", True, "ok"),
]


@pytest.mark.parametrize("completion,gold,correct,reason", CASES)
def test_verify_math_cases(completion, gold, correct, reason):
    v = verify_math(completion, gold)
    assert (v.correct, v.reason) == (correct, reason), v


def test_batch_matches_single_and_keeps_order():
    comps = [c for c, *_ in CASES]
    golds = [g for _, g, *_ in CASES]
    out = verify_math_batch(comps, golds, workers=2)
    assert [(v.correct, v.reason) for v in out] == [(c, r) for *_, c, r in CASES]


def test_include_think_reads_inside_an_unclosed_think():
    c = "<think>so it is \\boxed{5}"
    assert verify_math(c, "5").reason == "no_answer"
    assert verify_math(c, "5", include_think=True).correct


def test_verify_math_from_threads_never_uses_alarm_there():
    out: list[Verdict] = []
    ts = [
        threading.Thread(target=lambda i=i: out.append(verify_math(f"\\boxed{{{i}}}", str(i))))
        for i in range(4)
    ]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert len(out) == 4 and all(v.correct for v in out)


def test_batch_errors_and_empty():
    assert verify_math_batch([], []) == []
    with pytest.raises(ValueError, match="2 completions but 1 golds"):
        verify_math_batch(["a", "b"], ["1"])
    v = verify_math_batch([None], ["3"])[0]  # type: ignore[list-item]
    assert v.reason == "no_answer"


def test_extraction_rules():
    assert extract_answer(r"x \boxed{\frac{a}{\{b\}}} y").text == r"\frac{a}{\{b\}}"
    assert extract_answer(r"\boxed 5 apples").text == "5"
    assert extract_answer("blah\n#### 1,234").text == "1,234"
    assert extract_answer("<think>x").method == "unclosed_think"
    assert extract_gold("text #### 1,234") == "1234"
    assert extract_gold(r"it is $\boxed{\frac{1}{2}}$") == r"\frac{1}{2}"
    assert extract_gold(" 17 ") == "17"


def test_verdict_invariants_and_composition():
    with pytest.raises(ValueError):
        Verdict(True, "wrong_answer")
    ok, bad = Verdict.ok("3"), Verdict.fail("truncated")
    assert all_of([ok, ok]).correct
    v = all_of([bad, ok])
    assert not v.correct and v.reason == "truncated" and len(v.details["parts"]) == 2
    assert Verdict.from_dict(ok.to_dict()) == ok
