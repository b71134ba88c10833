"""Math-Verify's own unit cases without a box (math_verify_unboxed_cases.json, source named
there), graded with the opt-in `unboxed="math_verify"` extraction. Each case where we do not
agree with Math-Verify is listed in DISAGREE with the reason, and still disagrees."""

import pytest
from reasoning_distill.verifiers import verify_math_batch

from tests.verifiers.math_verify_table import check_agrees, check_table, load_cases, verdicts_by_id

CASES = load_cases("math_verify_unboxed_cases.json")

DISAGREE = {
    # A comma in a gold separates parts unless it groups thousands (`1,000`, `10,\!080`):
    # this gold reads as the list 1, 22, not Math-Verify's decimal comma 1.22.
    "test_all.py::test_number_extraction:71": "gold `1,22` is a list",
    # `Answer $ \n 9 \n $`: Math-Verify's inline-math pattern stops at a newline and finds
    # nothing; the answer after `Answer` is plainly 9 and we read it.
    "test_all.py::test_latex_notation:132": "math over lines is read",
    "test_all.py::test_latex_notation:133": "math over lines is read",
    # Gold `p=5,q=2;p=7,q=2` lists two solutions as groups of named values; we read it as
    # four named parts, which the answer's two tuples `(5,2),(7,2)` do not name.
    "test_numina_cases.py::test_numina_cases:54": "groups of named values are not tuples",
}


@pytest.fixture(scope="module")
def verdicts():
    return verdicts_by_id(CASES, unboxed="math_verify", workers=2)


def test_the_table():
    check_table(CASES, DISAGREE, count=138, boxed=False)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_agrees_with_math_verify(case, verdicts):
    check_agrees(case, verdicts[case["id"]], DISAGREE)


def test_the_default_reads_only_boxes_and_markers():
    # the same completions without the opt-in: most have neither a box nor a marker
    out = verify_math_batch([c["pred"] for c in CASES], [c["gold"] for c in CASES], workers=2)
    methods = {v.details.get("method") for v in out}
    assert methods <= {"none", "hash", "phrase", "a_line", "unclosed_think"}, methods
    assert sum(v.details.get("method") == "none" for v in out) > len(CASES) // 2
