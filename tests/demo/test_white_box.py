"""The demo report's white-box section: the demo's own equal-compute comparison, and
kd_helps' multi-seed answer added to a finished run's report (only when it is that run's)."""

from __future__ import annotations

import json

from reasoning_distill.eval.gap_report import build_gap_report, write_report

from reasoning_distill.demo.white_box import add_to_demo_report, load_multi_seed, section


def _report():
    results = {
        "toy_math": {
            "teacher": {f"p{i}": [True, True] for i in range(40)},
            "verified_sft_eq": {f"p{i}": [i % 2 == 0, False] for i in range(40)},
            "verified_rkl": {f"p{i}": [True, i % 4 == 0] for i in range(40)},
        }
    }
    return build_gap_report(results, compare=[("verified_rkl", "verified_sft_eq")])


def _multi_seed(key):
    return {
        "command": "benchmarks/kd_helps.py --demo OUT --seeds 3",
        "demo_config_key": key,
        "settings": {"seeds": 3, "rkl_steps": 150, "heldout": {"toy_math": 600}, "eval_n": 4},
        "answer": {
            "differences": {
                "toy_math on_policy: rkl - sft_eq": {
                    "diff": 0.004, "ci95": [-0.011, 0.019], "per_seed": [0.01, -0.002, 0.004],
                    "seeds_disagree": False, "answer": "no effect larger than 0.02",
                }
            }
        },
    }  # fmt: skip


def test_section_shows_the_demo_comparison_and_says_what_is_missing():
    report = _report()
    d = report["comparisons"]["toy_math"]["verified_rkl vs verified_sft_eq"]
    md = section(report, None)["markdown"]
    assert f"| toy_math | {d['diff']:+.3f} [" in md and "| yes |" in md
    assert "has not been measured on this run" in md and "kd_helps.py --demo OUT" in md


def test_kd_helps_answer_is_added_to_the_report_of_its_own_run_only(tmp_path):
    report = _report()
    report["title"] = "demo title"
    write_report(report, tmp_path, title="demo title")
    (tmp_path / "run.json").write_text(json.dumps({"config_key": "abc"}))
    (tmp_path / "kd_helps").mkdir()
    answer = tmp_path / "kd_helps" / "kd_helps.json"

    answer.write_text(json.dumps(_multi_seed("another run")))
    assert load_multi_seed(tmp_path, "abc") is None
    md = add_to_demo_report(tmp_path).read_text()
    assert md.startswith("# demo title\n") and "has not been measured" in md

    answer.write_text(json.dumps(_multi_seed("abc")))
    md = add_to_demo_report(tmp_path).read_text()
    assert "## Does the white-box stage help?" in md
    assert "| toy_math on_policy | +0.004 [-0.011, +0.019] | +0.010, -0.002, +0.004 |" in md
    assert "no effect larger than 0.02" in md and "toy_math 600, 4 samples each" in md
    assert "Every benchmark and mode: **no effect larger than 0.02**." in md
    saved = json.loads((tmp_path / "report.json").read_text())
    assert "no effect" in saved["sections"]["white_box"]["markdown"]

    answer.write_text("{not json")
    assert load_multi_seed(tmp_path, "abc") is None
