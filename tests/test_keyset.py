"""The compact key set: the same membership as a set of tuples, across merges."""

import random

from reasoning_distill import keyset
from reasoning_distill.keyset import KeySet


def test_membership_matches_a_set_of_tuples_across_merges(monkeypatch):
    monkeypatch.setattr(keyset, "PENDING", 64)  # many merges into the sorted arrays
    rng = random.Random(0)
    keys = [(f"q{rng.randrange(300)}", rng.randrange(4)) for _ in range(2000)]
    ks, ref = KeySet(), set()
    for k in keys:
        assert ks.add(k) == (k not in ref)
        ref.add(k)
    assert len(ks) == len(ref)
    assert all(k in ks for k in ref)
    assert ("q1", 9) not in ks and ("q1\x000", 1) not in ks and "q1" not in ks


def test_nul_in_a_problem_id_does_not_collide():
    ks = KeySet([("a\x001", 2)])
    assert ("a", 12) not in ks and ("a\x001", 2) in ks
