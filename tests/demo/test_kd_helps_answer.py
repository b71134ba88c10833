"""benchmarks/kd_helps.py's answer: the seed-aware paired difference of eval.seeds."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _kd_helps():
    spec = importlib.util.spec_from_file_location("kd_helps", ROOT / "benchmarks" / "kd_helps.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(rate: float, seed: int) -> dict[str, list[bool]]:
    rng = random.Random(seed)
    return {f"p{i}": [rng.random() < rate for _ in range(4)] for i in range(60)}


def _results(shift_by_seed: list[float]) -> dict:
    results = {"base": {b: _run(0.5, 99) for b in ("toy_math", "toy_code")}}
    for s, shift in enumerate(shift_by_seed):
        for j, short in enumerate(("off", "on")):
            for k, (arm, rate) in enumerate(
                ((f"rkl_{short}", 0.5 + shift), (f"sft_eq_{short}", 0.5))
            ):
                results[f"{arm}_s{s}"] = {
                    b: _run(rate, 100 * s + 10 * j + k + 50 * i)
                    for i, b in enumerate(("toy_math", "toy_code"))
                }
    return results


def test_answer_uses_seed_aware_intervals() -> None:
    from reasoning_distill.eval.seeds import CI_METHOD, seed_difference

    kd = _kd_helps()
    results = _results([0.3, -0.3, 0.3])
    answer = kd._answer(results, seeds=3, margin=0.02)
    d = answer["differences"]["toy_math off_policy: rkl - sft_eq"]
    a = [results[f"rkl_off_s{s}"]["toy_math"] for s in range(3)]
    b = [results[f"sft_eq_off_s{s}"]["toy_math"] for s in range(3)]
    want = seed_difference(a, b, [0, 1, 2])
    assert d["diff"] == pytest.approx(want.value) and d["ci95"] == pytest.approx(list(want.ci95))
    assert d["ci_method"] == CI_METHOD and d["seeds"] == [0, 1, 2] and len(d["per_seed"]) == 3
    # Seeds that disagree in sign leave the question open: the interval spans 0.
    assert d["ci95"][0] < 0 < d["ci95"][1] and d["answer"].startswith("not decided")
    arm = answer["pass@1"]["toy_math"]["rkl_off"]
    assert arm["seeds"] == [0, 1, 2] and len(arm["per_seed"]) == 3


def test_answer_with_missing_seeds_is_partial() -> None:
    kd = _kd_helps()
    results = _results([0.3, 0.3, 0.3])
    del results["sft_eq_on_s2"]
    answer = kd._answer(results, seeds=3, margin=0.02)
    assert (
        answer["differences"]["toy_code on_policy: rkl - sft_eq"]["answer"] == "partial (2 seeds)"
    )
    assert answer["differences"]["toy_code off_policy: rkl - sft_eq"]["answer"] == "helps"
