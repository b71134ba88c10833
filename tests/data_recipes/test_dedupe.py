"""Dedupe merges planted exact and near duplicates and keeps distinct problems."""

from reasoning_distill.data_recipes.dedupe import dedupe

BASE = [
    "Tom has 3 apples and buys 5 more at the market on Sunday. How many apples does he have now?",
    "A rectangle has a width of 4 cm and a length of 9 cm. What is its area in square cm?",
    "Write a function f(x) that returns x plus four minus two, for any integer x given.",
    "Ana reads 12 pages every day for a week and then 20 more pages. How many pages in all?",
    "What is the remainder when 2 to the power of 100 is divided by 7, as an integer?",
]


def test_planted_duplicates_are_merged_and_distinct_problems_kept():
    texts = [
        *BASE,
        BASE[0].upper(),  # exact after normalisation
        BASE[1].replace("cm", "cm ").replace("  ", " ") + "",  # re-spaced: exact
        BASE[3].replace("for a week", "for one week"),  # near duplicate
        "Ana reads 12 pages every day for a week and then 20 more pages. How many pages in all? Explain.",
        "Tom has 4 pears and eats 2 of them. How many pears are left?",  # distinct, same topic
    ]
    r = dedupe(texts, threshold=0.6, ngram=3)
    assert r.keep == [0, 1, 2, 3, 4, 9]
    assert r.dropped[5] == (0, "exact") and r.dropped[6] == (1, "exact")
    assert r.dropped[7] == (3, "near") and r.dropped[8] == (3, "near")


def test_near_can_be_turned_off_and_order_decides_the_keeper():
    texts = [BASE[3].replace("for a week", "for one week"), BASE[3]]
    assert dedupe(texts, near=False).keep == [0, 1]
    assert dedupe(texts, threshold=0.6, ngram=3).keep == [0]


def test_many_distinct_texts_stay():
    texts = [
        f"Problem {i}: add {i} and {i * 7 + 3} then multiply by {i % 11 + 2}." for i in range(2000)
    ]
    texts = [t + " " + " ".join(str(i * k) for k in range(8)) for i, t in enumerate(texts)]
    assert len(dedupe(texts).keep) == 2000


def test_problems_that_differ_only_in_operators_are_distinct():
    # The toy world's sums: dropping the signs merged 232 of 3,000 distinct problems.
    texts = ["Compute 7-5+8.", "Compute 7+5-8.", "Compute 7 - 5 + 8 ."]
    result = dedupe(texts, near=False)
    assert result.keep == [0, 1]
    assert result.dropped == {2: (0, "exact")}
