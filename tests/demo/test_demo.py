"""`rdistill demo --quick` end to end, and its guards against bad or reused output folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from reasoning_distill.demo.config import ARMS, DemoConfig
from reasoning_distill.demo.run import DemoError, prepare_out

MODELS = ("teacher", *ARMS)


def _quick_demo(out, cache) -> subprocess.CompletedProcess:
    # Two training seeds: the full demo's multi-seed path (arm_s1 folders, seed-aware report)
    # at the quick demo's size.
    cmd = [sys.executable, "-m", "reasoning_distill.cli.main", "demo", "--quick", "--seeds", "2"]
    cmd += ["--out", str(out), "--cache-dir", str(cache)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One real quick demo through the CLI (teacher built into a fresh cache)."""
    root = tmp_path_factory.mktemp("demo")
    out, cache = root / "out", root / "cache"
    proc = _quick_demo(out, cache)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, cache, proc


@pytest.mark.slow
@pytest.mark.timeout(1800)  # may build the quick teacher and run the quick demo
def test_report_structure(quick_run):
    out, _, proc = quick_run
    report = json.loads((out / "report.json").read_text())
    for bench in ("toy_math", "toy_code"):
        models = report["benchmarks"][bench]
        assert set(MODELS) <= set(models)
        for name in MODELS:
            entry = models[name]
            assert 0.0 <= entry["pass@1"] <= 1.0
            lo, hi = entry["ci95"]
            assert lo <= entry["pass@1"] <= hi
            assert "recovery" in entry
            if name != "teacher":  # every arm over its two training seeds, pooled
                assert entry["seeds"] == [0, 1] and len(entry["per_seed"]) == 2
                assert entry["pass@1"] == pytest.approx(sum(entry["per_seed"]) / 2)
                assert entry["ci_method"]
        for key, c in report["comparisons"][bench].items():
            assert c["seeds"] == [0, 1] and len(c["per_seed"]) == 2, key
            assert c["diff"] == pytest.approx(sum(c["per_seed"]) / 2) and c["ci_method"]
        # what the tiny quick teacher scores differs between machines (it may solve nothing)
        if models["teacher"]["pass@1"] > 0:
            assert models["teacher"]["recovery"] == pytest.approx(1.0)
        else:
            assert models["teacher"]["recovery"] is None
    v = report["verification"]["all"]
    assert v["generated"] == sum(v["by_reason"].values())
    assert v["kept"] == v["by_reason"].get("ok", 0)
    assert report["protocol"]["n"] == DemoConfig.quick().eval_n
    sandbox = report["verification"]["sandbox"]  # which isolation the toy programs ran under
    assert sandbox["code_samples"] > 0 and sandbox["isolation"] in (
        "bubblewrap", "uid+netns", "uid", "netns", "none"
    )  # fmt: skip
    md = (out / "report.md").read_text()
    assert "sandbox" in md and sandbox["isolation"] in md
    assert md.count("verified_rkl") >= 2
    assert "## Does the white-box stage help?" in md and "verified_sft_eq" in md
    # Its models are too small to rank the arms, and the report says so first.
    assert md.startswith(f"# {DemoConfig.quick().report_title}\n") and "plumbing" in md[:80]
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "teacher" in proc.stdout  # the CLI prints the table
    assert "pass@1 per seed" in md and "Intervals over seeds" in md
    gap = json.loads((out / "gap" / "gap.json").read_text())
    assert len(gap["benchmarks"]["toy_math"]["verified"]["seeds"]) == 2
    # each seed's arm was trained and evaluated in its own folder
    assert (out / "students" / "verified_s1" / "demo_result.json").is_file()
    assert (out / "eval" / "verified_rkl_s1" / "results.json").is_file()


@pytest.mark.slow
@pytest.mark.timeout(1800)  # may build the quick teacher and run the quick demo
def test_artifacts_and_training(quick_run):
    from datasets import load_from_disk

    out, _, _ = quick_run
    for name in ("verified", "unverified", "answer_only"):
        ds = load_from_disk(str(out / "datasets" / name))
        assert ds[0]["messages"][1]["role"] == "assistant"
        assert (out / "datasets" / name / "README.md").exists()
    answer_only = load_from_disk(str(out / "datasets" / "answer_only"))
    assert all(r["messages"][1]["content"].startswith("<think>\n\n</think>") for r in answer_only)
    steps = set()
    for arm in ARMS:
        res = json.loads((out / "students" / arm / "demo_result.json").read_text())
        assert res["last_loss"] < res["first_loss"], arm  # training lowered the loss
        if arm not in ("verified_rkl", "verified_sft_eq"):
            steps.add(res["steps"])
    assert steps == {DemoConfig.quick().sft_steps}
    # the reverse-KL arm's control: SFT from the same checkpoint with the same training FLOPs
    rkl, eq = (
        json.loads((out / "students" / arm / "demo_result.json").read_text())
        for arm in ("verified_rkl", "verified_sft_eq")
    )
    assert eq["steps"] > rkl["steps"] == DemoConfig.quick().rkl_steps
    # the shipped toy recipe's work folder: the generation store with its keyed verdicts
    store = out / "build" / "generations"
    assert (store / "manifest.json").is_file() and (store / "verdicts.jsonl").is_file()


@pytest.mark.slow
@pytest.mark.timeout(1800)  # may build the quick teacher and run the quick demo
def test_rerun_resumes_without_redoing_work(quick_run):
    out, cache, _ = quick_run
    before = (out / "students" / "verified" / "demo_result.json").stat().st_mtime_ns
    proc = _quick_demo(out, cache)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "students" / "verified" / "demo_result.json").stat().st_mtime_ns == before
    assert "using cached toy teacher" in proc.stderr


@pytest.mark.slow
@pytest.mark.timeout(1800)  # may build the quick teacher and run the quick demo
def test_seed_spread_script_trains_and_summarises_seeds(quick_run):
    """benchmarks/demo_seed_spread.py on the quick run: seed 0 is the demo's own arm trained
    again (training is deterministic on one machine), seed 1 another data order."""
    from pathlib import Path

    out, _, _ = quick_run
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "demo_seed_spread.py"
    cmd = [sys.executable, str(script), "--demo", str(out), "--seeds", "2", "--arm", "verified"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    saved = json.loads((out / "seed_spread" / "verified.json").read_text())
    math = saved["summary"]["toy_math"]
    assert saved["seeds"] == [0, 1] and len(math["pass@1"]["per_seed"]) == 2
    demo = json.loads((out / "report.json").read_text())["benchmarks"]["toy_math"]["verified"]
    # seeds 0 and 1 are the demo's own two seeds, trained again: same weights, same scores
    assert math["pass@1"]["per_seed"] == pytest.approx(demo["per_seed"])
    assert "seeds x problems" in math["pass@1"]["ci_method"] or math["pass@1"].get("note")
    assert "| toy_math |" in proc.stdout and "seed sd" in proc.stdout


@pytest.mark.slow
@pytest.mark.timeout(1800)  # may build the quick teacher and run the quick demo
def test_verification_sweep_script_adds_its_points_to_the_report(quick_run):
    """benchmarks/verification_sweep.py on the quick run: the demo's own temperature is a point
    made of the demo's own students (its scores are the demo's), another temperature samples
    the teacher again; the report gains the section and the plot."""
    from pathlib import Path

    out, _, _ = quick_run
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "verification_sweep.py"
    cmd = [sys.executable, str(script), "--demo", str(out), "--temperatures", "0.5"]
    cmd += ["--wrong-shares", "0.2", "--seeds", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    sweep = json.loads((out / "verification_sweep" / "sweep.json").read_text())
    points = {p["mix"] or p["temperature"]: p for p in sweep["points"]}
    assert set(points) == {0.5, 1.0, 0.2} and points[1.0]["demo"] and not points[0.5]["demo"]
    mixed = points[0.2]
    assert not mixed["demo"] and mixed["temperature"] == 1.0
    # mixed from the demo's own traces to 20% wrong per kind (a kind without a right trace
    # cannot be mixed to 20% and has no rows: the quick teacher may solve no code)
    assert "math" in mixed["wrong"]
    for kind, w in mixed["wrong"].items():
        assert abs(w["share"] - 0.2) <= 2 / w["traces"], (kind, w)
    report = json.loads((out / "report.json").read_text())
    for bench in ("toy_math", "toy_code"):
        own = points[1.0]["benchmarks"][bench]
        arms = report["benchmarks"][bench]
        assert own["verified"] == pytest.approx(arms["verified"]["pass@1"])
        assert own["unverified"] == pytest.approx(arms["unverified"]["pass@1"])
        assert own["per_seed"] == pytest.approx(
            report["comparisons"][bench]["verified vs unverified"]["per_seed"]
        )
        assert points[0.5]["benchmarks"][bench]["seeds"] == [0, 1]
    wrong = points[0.5]["wrong"]
    assert wrong["all"]["traces"] == wrong["math"]["traces"] + wrong["code"]["traces"] > 0
    md = (out / "report.md").read_text()
    assert "## When does verification pay?" in md and "| T=0.5 |" in md
    assert "| the demo's, mixed to 0.2 wrong |" in md
    assert (out / "verification_sweep.png").read_bytes()[:4] == b"\x89PNG"


def test_one_seed_settles_no_comparison():
    """With one training seed the report says seed variance was not measured, and neither a
    comparison nor a comparison target is settled, whatever the intervals over problems say."""
    from reasoning_distill.eval.gap_report import build_gap_report, render_markdown

    from reasoning_distill.demo.run import _targets

    def model(solved: int, m: int) -> dict:
        return {f"p{i}": [i < solved] * 2 for i in range(m)}

    results = {
        bench: {"teacher": model(m, m), "verified": [model(m - 2, m)],
                **{arm: [model(2, m)] for arm in ARMS if arm != "verified"}}
        for bench, m in (("toy_math", 40), ("toy_code", 20))
    }  # fmt: skip
    compare = [("verified", "answer_only"), ("verified", "unverified")]
    report = build_gap_report(results, teacher="teacher", compare=compare, seeds=[0])
    c = report["comparisons"]["toy_math"]["verified vs unverified"]
    assert c["diff"] == pytest.approx(0.9) and c["ci95"][0] > 0  # far apart over problems
    assert c["separated"] is False and "seed variance not measured" in c["note"]
    targets = _targets(report, {arm: {"steps": 40} for arm in ARMS}, 60.0, True, True)
    beats = [t for t in targets if t["name"].startswith("verified beats")]
    assert len(beats) == 2 and all(t["met"] is None for t in beats)
    assert "not settled" in beats[0]["detail"]
    spread = next(t for t in targets if "standard deviation" in t["name"])
    assert spread["met"] is None and "not measured" in spread["detail"]
    md = render_markdown(report)
    assert "seed variance was not measured" in md and "not settled (one seed)" in md


def test_seed_spread_target_reads_every_arm():
    from reasoning_distill.eval.gap_report import build_gap_report

    from reasoning_distill.demo.run import _targets

    def model(solved: int, m: int = 40) -> dict:
        return {f"p{i}": [i < solved] * 2 for i in range(m)}

    # verified moves by 8 problems in 40 between seeds (sd 0.2 / sqrt 2 > 0.03)
    results = {
        bench: {"teacher": model(40), "verified": [model(30), model(38)],
                **{arm: [model(20), model(20)] for arm in ARMS if arm != "verified"}}
        for bench in ("toy_math", "toy_code")
    }  # fmt: skip
    report = build_gap_report(results, compare=[("verified", "unverified")], seeds=[0, 1])
    targets = _targets(report, {arm: {"steps": 40} for arm in ARMS}, 60.0, True, True)
    spread = next(t for t in targets if "standard deviation" in t["name"])
    assert spread["met"] is False and "verified 0.141" in spread["detail"]
    rec = targets[0]
    assert rec["met"] is False and "per seed 0.750, 0.950" in rec["detail"]


def test_seeds_flag_needs_a_positive_count(capsys):
    from reasoning_distill.cli.main import main

    for bad in ("0", "-2", "two"):
        with pytest.raises(SystemExit) as e:
            main(["demo", "--quick", "--seeds", bad, "--out", "unused"])
        assert e.value.code == 2
        assert "--seeds" in capsys.readouterr().err


def test_only_the_full_demo_claims_to_rank_the_arms():
    assert "plumbing check only" in DemoConfig.quick().report_title
    assert "plumbing" not in DemoConfig().report_title
    assert DemoConfig().seeds == 3 and DemoConfig.quick().seeds == 1
    assert DemoConfig().key() != DemoConfig.quick().key()


def test_unwritable_out_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(DemoError, match="cannot write to --out"):
        prepare_out(blocker / "run", DemoConfig.quick())


def test_out_with_other_settings_is_refused(tmp_path):
    prepare_out(tmp_path, DemoConfig.quick())
    prepare_out(tmp_path, DemoConfig.quick())  # same settings: resumable
    with pytest.raises(DemoError, match="other settings"):
        prepare_out(tmp_path, replace(DemoConfig.quick(), sft_steps=41))
    prepare_out(tmp_path, replace(DemoConfig.quick(), sft_steps=41), force=True)


def test_cli_reports_unwritable_out(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "reasoning_distill.cli.main",
            "demo",
            "--quick",
            "--out",
            str(blocker / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "rdistill demo: error: cannot write to --out" in proc.stderr  # one line, on stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("force", [False, True])
def test_folder_of_user_files_is_refused(tmp_path, force):
    """The demo writes only where its own run.json is (or into a new or empty folder)."""
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "results.json").write_text('{"mine": 1}')
    (tmp_path / "notes.txt").write_text("keep")
    with pytest.raises(DemoError, match="files the demo did not write"):
        prepare_out(tmp_path, DemoConfig.quick(), force=force)
    assert (tmp_path / "eval" / "results.json").read_text() == '{"mine": 1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval", "notes.txt"]
    # a run.json that is not the demo's own marker does not make the folder the demo's
    (tmp_path / "run.json").write_text('{"config_key": 3}')
    with pytest.raises(DemoError, match="files the demo did not write"):
        prepare_out(tmp_path, DemoConfig.quick(), force=force)
    assert (tmp_path / "run.json").read_text() == '{"config_key": 3}'


def test_cli_refuses_a_folder_of_user_files(tmp_path):
    (tmp_path / "mine.txt").write_text("keep")
    cmd = [sys.executable, "-m", "reasoning_distill.cli.main", "demo", "--quick", "--force"]
    proc = subprocess.run(
        [*cmd, "--out", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert "files the demo did not write" in proc.stderr and "Traceback" not in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("teacher_solved", [0, 1])
def test_targets_with_a_teacher_near_zero(teacher_solved):
    """A quick teacher that solves (almost) nothing gives recovery 0 with an unbounded
    interval, or no recovery at all; the targets still render (they crashed on [0.0, None])."""
    from reasoning_distill.eval.gap_report import build_gap_report, render_markdown

    from reasoning_distill.demo.run import _targets

    def model(solved: int, m: int) -> dict:
        return {f"p{i}": [i < solved, False] for i in range(m)}

    results = {
        bench: {"teacher": model(teacher_solved, m), **{arm: model(0, m) for arm in ARMS}}
        for bench, m in (("toy_math", 40), ("toy_code", 20))
    }
    compare = [("verified", "answer_only"), ("verified", "unverified")]
    report = build_gap_report(results, teacher="teacher", compare=compare)
    train = {arm: {"steps": 40} for arm in ARMS}
    targets = _targets(report, train, elapsed_s=60.0, cold=True, quick=True)
    rec = targets[0]
    assert rec["met"] is False
    if teacher_solved:
        assert "[0.000, inf]" in rec["detail"]
    else:
        assert "recovery is undefined" in rec["detail"]
    report["targets"] = targets
    assert "verified recovers" in render_markdown(report)


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.timeout(1500)  # seven vLLM engine starts (teacher and six models to evaluate)
def test_quick_demo_on_vllm(tmp_path):
    """The quick demo samples and evaluates through vLLM's CPU build end to end, with vLLM's
    own memory defaults (no VLLM_CPU_KVCACHE_SPACE: the engine picks a KV cache that starts)."""
    env = {k: v for k, v in os.environ.items() if k != "VLLM_CPU_KVCACHE_SPACE"}
    cmd = [sys.executable, "-m", "reasoning_distill.cli.main", "demo", "--quick"]
    cmd += ["--engine", "vllm", "--out", str(tmp_path / "out")]
    cmd += ["--cache-dir", str(tmp_path / "cache")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["protocol"]["engine"] == "vllm"
    assert set(MODELS) <= set(report["benchmarks"]["toy_math"])
