"""`rdistill build --input FILE`: plain JSONL rows from `rdistill verify` to a dataset."""

from __future__ import annotations

import json

from tests.cli._rdistill import rdistill as _rdistill


def _row(i: int, correct: bool) -> dict:
    return {
        "problem_id": f"p{i}",
        "sample_index": 0,
        "messages": [{"role": "user", "content": f"Compute {i}+1."}],
        "completion": f"<think>\n{i}+1={i + 1}\n</think>\n\nThe answer is \\boxed{{{i + 1}}}.",
        "answer": f"The answer is \\boxed{{{i + 1}}}.",
        "verdict": {"correct": correct, "reason": "ok" if correct else "wrong_answer"},
    }


def test_build_keeps_verified_rows(tmp_path):
    from datasets import load_from_disk

    src = tmp_path / "verified.jsonl"
    src.write_text("".join(json.dumps(_row(i, i % 3 != 0)) + "\n" for i in range(9)))
    proc = _rdistill("build", "--input", str(src), "--out", str(tmp_path / "ds"))
    assert proc.returncode == 0, proc.stderr
    ds = load_from_disk(str(tmp_path / "ds"))
    assert len(ds) == 6 and {r["problem_id"] for r in ds} == {"p1", "p2", "p4", "p5", "p7", "p8"}
    assert ds[0]["messages"][1]["content"].startswith("<think>")
    assert "kept" in (tmp_path / "ds" / "README.md").read_text()

    proc = _rdistill(
        "build",
        "--input",
        str(src),
        "--out",
        str(tmp_path / "ans"),
        "--keep",
        "all",
        "--answer-only",
    )
    assert proc.returncode == 0, proc.stderr
    ans = load_from_disk(str(tmp_path / "ans"))
    assert len(ans) == 9
    assert ans[0]["messages"][1]["content"] == "<think>\n\n</think>\n\nThe answer is \\boxed{1}."


def test_build_names_the_bad_line(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text(json.dumps(_row(1, True)) + "\n" + "{not json\n")
    proc = _rdistill("build", "--input", str(src), "--out", str(tmp_path / "ds"))
    assert proc.returncode != 0 and f"{src}:2" in proc.stderr
    assert not (tmp_path / "ds").exists()
    row = _row(1, True)
    del row["verdict"]
    src.write_text(json.dumps(row) + "\n")
    proc = _rdistill("build", "--input", str(src), "--out", str(tmp_path / "ds"))
    assert proc.returncode != 0 and "verdict" in proc.stderr


def test_build_from_a_verified_store(tmp_path, capsys):
    from datasets import load_from_disk

    from reasoning_distill.cli.main import main
    from tests.cli._verify_rows import make_store, mixed_samples

    store = make_store(tmp_path / "gen", mixed_samples())
    out = tmp_path / "ds"
    assert main(["build", "--samples", str(store), "--out", str(out)]) == 2
    assert "rdistill verify" in capsys.readouterr().err  # no verdicts yet
    assert main(["verify", "--samples", str(store)]) == 0
    assert main(["build", "--samples", str(store), "--out", str(out)]) == 0
    ds = load_from_disk(str(out))
    assert sorted(zip(ds["problem_id"], ds["sample_index"], strict=True)) == [("c1", 0), ("m1", 0)]
    assert [m["role"] for m in ds.filter(lambda r: r["kind"] == "math")[0]["messages"]] == [
        "system",
        "user",
        "assistant",
    ]
    assert (
        main(["build", "--samples", str(store), "--out", str(out), "--keep", "all", "--k", "1"])
        == 0
    )
    assert len(load_from_disk(str(out))) == 2
