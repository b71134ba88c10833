"""`rdistill gap` with a student trained over several seeds: one results file per seed."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from reasoning_distill.cli.main import main
from tests.cli._eval_envelopes import envelope, teacher_student, write


def _seed_runs(seeds: int, seed_shift: list[float]) -> list[dict[str, list[bool]]]:
    """Per seed, 40 problems x 4 samples whose success rate moves with the seed."""
    runs = []
    for s in range(seeds):
        rng = random.Random(s)
        runs.append(
            {f"p{i}": [rng.random() < 0.3 + 0.4 * (i % 2) + seed_shift[s] for _ in range(4)]
             for i in range(40)}
        )  # fmt: skip
    return runs


def _gap(tmp_path: Path, args: list[str]) -> dict:
    out = tmp_path / "gap"
    assert main(["gap", "--teacher", str(tmp_path / "teacher"), *args, "--out", str(out)]) == 0
    return json.loads((out / "gap.json").read_text())


def test_labelled_seeds_are_pooled_with_seed_aware_intervals(tmp_path: Path, capsys) -> None:
    t, _ = teacher_student()
    write(tmp_path / "teacher", envelope("teacher", t))
    runs = _seed_runs(3, [-0.15, 0.0, 0.15])
    args = []
    for s, run in enumerate(runs):
        write(tmp_path / f"s{s}", envelope(f"ckpt-{s}", run))
        args += ["--student", f"verified={tmp_path / f's{s}'}"]
    gap = _gap(tmp_path, args)
    assert gap["students"] == ["verified"]
    g = gap["benchmarks"]["toy_math"]["verified"]
    assert g["seeds"] == ["s0", "s1", "s2"]
    per_seed = [sum(sum(c) / 4 for c in run.values()) / 40 for run in runs]
    assert g["student"]["per_seed"] == pytest.approx(per_seed)
    assert g["student"]["pass@1"] == pytest.approx(sum(per_seed) / 3)
    t_rate = sum(sum(c) / 4 for c in t.values()) / 40
    assert g["recovery_per_seed"] == pytest.approx([p / t_rate for p in per_seed])
    assert g["recovery"] == pytest.approx(sum(per_seed) / 3 / t_rate)
    assert g["difference_per_seed"] == pytest.approx([p - t_rate for p in per_seed])
    assert "seeds x problems" in g["student"]["ci_method"]
    assert "seeds x problems" in g["recovery_method"] and "seeds" in g["difference_method"]
    # Each seed beside the pooled figures, in gap.md and gap.html.
    md = (tmp_path / "gap" / "gap.md").read_text()
    assert "pooled (3 seeds)" in md and "| s2 |" in md
    assert "pooled (3 seeds)" in (tmp_path / "gap" / "gap.html").read_text()
    # The seeds' spread (0.15 apart) widens the interval beyond one seed's over problems.
    one = _gap(tmp_path, ["--student", str(tmp_path / "s1")])["benchmarks"]["toy_math"]["ckpt-1"]
    width = g["student"]["ci95"][1] - g["student"]["ci95"][0]
    assert width > one["student"]["ci95"][1] - one["student"]["ci95"][0]
    # Problem tables read every seed's samples of a problem.
    assert sum(g["problem_table"].values()) == 40


def test_results_of_one_model_name_are_seeds(tmp_path: Path, capsys) -> None:
    t, _ = teacher_student()
    write(tmp_path / "teacher", envelope("teacher", t))
    runs = _seed_runs(2, [0.0, 0.1])
    for s, run in enumerate(runs):
        write(tmp_path / f"s{s}", envelope("student", run))
    gap = _gap(tmp_path, ["--student", str(tmp_path / "s0"), "--student", str(tmp_path / "s1")])
    assert gap["benchmarks"]["toy_math"]["student"]["seeds"] == ["s0", "s1"]
    assert "2 results pooled as training seeds" in capsys.readouterr().out


def test_one_file_twice_is_not_two_seeds(tmp_path: Path, capsys) -> None:
    t, s = teacher_student()
    write(tmp_path / "teacher", envelope("teacher", t))
    write(tmp_path / "s0", envelope("student", s))
    rc = main(["gap", "--teacher", str(tmp_path / "teacher"), "--student", str(tmp_path / "s0"),
               "--student", f"x={tmp_path / 's0' / 'results.json'}", "--out", str(tmp_path / "o")])  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err
    assert "already reads" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_seeds_on_other_problems_are_refused(tmp_path: Path, capsys) -> None:
    t, _ = teacher_student()
    write(tmp_path / "teacher", envelope("teacher", t))
    runs = _seed_runs(2, [0.0, 0.0])
    runs[1].pop("p3")
    runs[1]["p99"] = [True] * 4
    for s, run in enumerate(runs):
        write(tmp_path / f"s{s}", envelope("student", run))
    rc = main(["gap", "--teacher", str(tmp_path / "teacher"), "--student", str(tmp_path / "s0"),
               "--student", str(tmp_path / "s1"), "--out", str(tmp_path / "o")])  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err
    assert "covers other problems" in err and "s1" in err and "Traceback" not in err


def test_seeds_under_another_protocol_are_refused(tmp_path: Path, capsys) -> None:
    t, _ = teacher_student()
    write(tmp_path / "teacher", envelope("teacher", t))
    runs = _seed_runs(2, [0.0, 0.0])
    write(tmp_path / "s0", envelope("student", runs[0]))
    write(tmp_path / "s1", envelope("student", runs[1], sampling__temperature=1.0))
    rc = main(["gap", "--teacher", str(tmp_path / "teacher"), "--student", str(tmp_path / "s0"),
               "--student", str(tmp_path / "s1"), "--out", str(tmp_path / "o")])  # fmt: skip
    assert rc == 2
    assert "temperature" in capsys.readouterr().err
