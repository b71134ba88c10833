"""The demo report's "when does verification pay?" section: the wrong share counted from
verdicts, the sweep's table and plot added to the report of its own run only."""

from __future__ import annotations

import json
import random

import pytest
from reasoning_distill.eval.gap_report import build_gap_report, write_report
from reasoning_distill.eval.seeds import seed_difference

from reasoning_distill.demo.sweep import (
    add_to_demo_report,
    load_sweep,
    mixed_rows,
    section,
    sweep_file,
    wrong_share,
)


def test_wrong_share_counts_all_and_each_kind():
    got = wrong_share([("math", True), ("math", False), ("math", False), ("code", True)])
    assert got["all"] == {"traces": 4, "wrong": 2, "share": 0.5}
    assert got["math"] == {"traces": 3, "wrong": 2, "share": 2 / 3}
    assert got["code"] == {"traces": 1, "wrong": 0, "share": 0.0}
    assert wrong_share([]) == {}


def test_mixed_rows_reach_the_share_in_each_kind_from_the_pool():
    rng = random.Random(3)
    kinds = [rng.choice(["math", "code"]) for _ in range(3000)]
    # math: about 45% wrong, code: about 20% wrong
    correct = [rng.random() > (0.45 if k == "math" else 0.2) for k in kinds]
    right = {
        k: sum(c for kk, c in zip(kinds, correct, strict=True) if kk == k) for k in ("math", "code")
    }
    for share in (0.0, 0.1, 0.25, 0.4):
        rows = mixed_rows(kinds, correct, share, seed=0)
        assert rows == sorted(set(rows)) and rows == mixed_rows(kinds, correct, share, seed=0)
        for kind in ("math", "code"):
            mine = [correct[i] for i in rows if kinds[i] == kind]
            wrong = mine.count(False) / len(mine)
            assert abs(wrong - share) < 2 / len(mine), (share, kind, wrong)
            # below the pool's own share every right trace is kept (the verified data is the
            # pool's verified data); above it every wrong trace is, with fewer right ones
            pool_share = 1 - right[kind] / kinds.count(kind)
            if share <= pool_share:
                assert mine.count(True) == right[kind]
            else:
                assert mine.count(False) == kinds.count(kind) - right[kind]
    assert mixed_rows(kinds, correct, 0.1, seed=0) != mixed_rows(kinds, correct, 0.1, seed=1)
    assert all(correct[i] for i in mixed_rows(kinds, correct, 0.0))
    with pytest.raises(ValueError, match="wrong share"):
        mixed_rows(kinds, correct, 1.0)


def _runs(p: float, seed: int) -> dict[str, list[bool]]:
    rng = random.Random(seed)
    return {f"p{i}": [rng.random() < p for _ in range(4)] for i in range(60)}


def _point(
    temperature: float, share: float, gain: float, demo: bool = False, mix: float | None = None
) -> dict:
    verified = [_runs(0.6, s) for s in range(3)]
    unverified = [_runs(0.6 - gain, 100 + s) for s in range(3)]
    d = seed_difference(verified, unverified, [0, 1, 2])
    return {
        "temperature": temperature,
        "mix": mix,
        "demo": demo,
        "wrong": {"all": {"share": share}, "math": {"share": share}},
        "benchmarks": {
            "toy_math": {
                "verified": 0.6, "unverified": 0.6 - gain, "diff": d.value,
                "ci95": list(d.ci95), "per_seed": list(d.per_seed), "seeds": [0, 1, 2],
                "ci_method": d.ci_method,
            }
        },
    }  # fmt: skip


def _sweep(key: str) -> dict:
    return {
        "command": "benchmarks/verification_sweep.py --demo OUT",
        "demo_config_key": key,
        "ci_method": "two-way t (seeds x problems, Satterthwaite df)",
        "settings": {"seeds": 3, "temperatures": [0.3, 0.6, 1.0], "eval_n": 4},
        "points": [
            _point(1.0, 0.5, 0.3, demo=True),
            _point(0.3, 0.1, 0.0),
            _point(1.0, 0.25, 0.1, mix=0.25),
        ],
    }


def test_section_orders_points_by_wrong_share_and_states_each_answer():
    sweep = _sweep("abc")
    md = section(sweep)["markdown"]
    rows = [line for line in md.splitlines() if line.startswith(("| T=", "| the demo's"))]
    labels = [r.split(" |")[0] for r in rows]
    assert labels == ["| T=0.3", "| the demo's, mixed to 0.25 wrong", "| T=1 (the demo)"]
    big = sweep["points"][0]["benchmarks"]["toy_math"]
    assert big["ci95"][0] > 0  # a 0.3 gain over 60 problems x 3 seeds is beyond the interval
    assert f"{big['diff']:+.3f} [{big['ci95'][0]:+.3f}, {big['ci95'][1]:+.3f}]" in rows[2]
    assert rows[2].endswith("| verification helps |")
    assert "verification_sweep.png" in md
    assert "has not been measured" in section(None)["markdown"]


def test_sweep_is_added_to_the_report_of_its_own_run_only(tmp_path):
    results = {"toy_math": {"teacher": {"p0": [True]}, "verified": {"p0": [True]}}}
    report = build_gap_report(results)
    write_report(report, tmp_path, title="demo title")
    (tmp_path / "run.json").write_text(json.dumps({"config_key": "abc"}))
    path = sweep_file(tmp_path)
    path.parent.mkdir()

    path.write_text(json.dumps(_sweep("another run")))
    assert load_sweep(tmp_path, "abc") is None
    md = add_to_demo_report(tmp_path).read_text()
    assert "## When does verification pay?" in md and "has not been measured" in md
    assert not (tmp_path / "verification_sweep.png").exists()

    path.write_text(json.dumps(_sweep("abc")))
    md = add_to_demo_report(tmp_path).read_text()
    assert "| T=1 (the demo) | 0.50, 0.50 | toy_math |" in md
    png = tmp_path / "verification_sweep.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "report.json").read_text())
    assert "the demo" in saved["sections"]["verification_sweep"]["markdown"]

    path.write_text("{not json")
    assert load_sweep(tmp_path, "abc") is None
