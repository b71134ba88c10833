"""Decontamination finds planted benchmark problems however reformatted, and leaves unrelated
problems alone (real benchmark files from ../shared/benchmarks)."""

from __future__ import annotations

import re

import pytest
from reasoning_distill.data_recipes import find_contamination
from reasoning_distill.data_recipes.decontam import benchmark_texts, build_index, match_texts

from tests.benchmark_files import SHARED_BENCHMARKS as SHARED

pytestmark = pytest.mark.usefixtures("shared_benchmarks")  # skipped without the files


def _respace(t: str) -> str:
    return "\n  ".join(t.split(" "))


def _commas(t: str) -> str:
    # 1200 -> 1,200 (number formatting changed)
    return re.sub(r"\b(\d)(\d{3})\b", r"\1,\2", t)


def test_planted_problems_are_found_and_unrelated_ones_left_alone():
    gsm = benchmark_texts("gsm8k", SHARED)
    math = benchmark_texts("math500", SHARED)
    big = next(t for _, t in gsm if re.search(r"\b\d{4}\b", t))
    big_id = next(i for i, t in gsm if t == big)
    texts = [
        gsm[0][1],  # verbatim
        _respace(gsm[1][1]),  # re-spaced
        gsm[2][1].upper(),  # re-cased
        _commas(big),  # number formatting changed
        "Some intro text. " + math[0][1] + " Please solve it.",  # embedded
        "A baker makes 14 loaves each morning and sells each for 3 dollars; what does she earn?",
        "Write a function that returns the sum of the squares of a list's odd elements.",
        "Compute 2+3.",
    ]
    hits = find_contamination(texts, ["gsm8k", "math500", "mbpp"], data_dir=str(SHARED))
    by_text = {h.index: h for h in hits}
    assert sorted(by_text) == [0, 1, 2, 3, 4]
    assert (by_text[0].benchmark_id, by_text[0].kind) == (gsm[0][0], "exact")
    assert by_text[1].kind == "normalised" and by_text[2].kind == "normalised"
    assert by_text[3].benchmark_id == big_id and by_text[3].kind == "normalised"
    assert by_text[4].benchmark == "math500" and by_text[4].kind.startswith("ngram-")


def test_a_shared_stock_phrase_is_not_contamination():
    rows = {
        "bench": [
            ("b1", "Tom buys 3 apples at the store. How much money does he have left at the end?"),
            ("b2", "Ana sells 7 pies at the fair. How much money does she have left at the end?"),
            ("b3", "Li earns 9 coins at work today. How much money does he have left at the end?"),
            ("b4", "A train leaves the station at noon going sixty miles per hour toward the east coast."),
        ]
    }  # fmt: skip
    index = build_index(rows, (8,))
    stock = "Mia finds 12 shells on the beach. How much money does she have left at the end?"
    one_gram = "My note: a train leaves the station at noon going fast, and then it rains a lot."
    assert match_texts([stock, one_gram], index) == []
    planted = match_texts([rows["bench"][3][1] + " Explain."], index)
    assert [(h.benchmark_id, h.kind) for h in planted] == [("b4", "ngram-8")]
