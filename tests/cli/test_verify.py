"""`rdistill verify`: a verdict on every row or sample, per kind, atomic output, clear input errors."""

import json

import pytest

from reasoning_distill.cli.main import main


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_verify_math_appends_a_verdict_to_every_row(tmp_path, capsys):
    rows = [
        {
            "id": "a",
            "completion": "<think>x</think> \\boxed{17}",
            "gold": "17",
            "finish_reason": "stop",
        },
        {
            "id": "b",
            "completion": "<think>x</think> \\boxed{4}",
            "gold": "5",
            "finish_reason": "stop",
        },
        {
            "id": "c",
            "completion": "<think>x</think> \\boxed{5}",
            "gold": "5",
            "finish_reason": "length",
        },
    ]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(src, rows)
    assert main(["verify", "math", "--input", str(src), "--out", str(out)]) == 0
    got = _read(out)
    assert [r["id"] for r in got] == ["a", "b", "c"]
    assert [r["verdict"]["reason"] for r in got] == ["ok", "wrong_answer", "ok"]
    assert got[0]["gold"] == "17"  # the row itself is kept
    assert main(["verify", "math", "--input", str(src), "--out", str(out), "--check-format"]) == 0
    assert [r["verdict"]["reason"] for r in _read(out)] == ["ok", "wrong_answer", "truncated"]
    assert "wrong_answer" in capsys.readouterr().out


def test_verify_code_with_custom_fields_and_json_string_tests(tmp_path):
    tests = {"kind": "assert", "code": "assert f(2) == 5", "entry_point": None, "setup": ""}
    rows = [
        {"text": "```python\ndef f(x):\n    return x + 3\n```", "tests": json.dumps(tests)},
        {"text": "```python\ndef f(x):\n    return x\n```", "tests": tests},
    ]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(src, rows)
    argv = ["verify", "code", "--input", str(src), "--out", str(out)]
    argv += ["--completion-field", "text", "--tests-field", "tests", "--verdict-field", "v"]
    assert main(argv) == 0
    assert [r["v"]["reason"] for r in _read(out)] == ["ok", "wrong_answer"]


def test_bad_input_names_the_line_and_leaves_the_output_alone(tmp_path, capsys):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    out.write_text("previous results\n")
    src.write_text('{"completion": "x", "gold": "1"}\n{not json\n')
    assert main(["verify", "math", "--input", str(src), "--out", str(out)]) == 2
    assert "in.jsonl:2: not valid JSON" in capsys.readouterr().err
    src.write_text('{"completion": "x", "gold": "1"}\n{"completion": "y"}\n')
    assert main(["verify", "math", "--input", str(src), "--out", str(out)]) == 2
    assert "in.jsonl:2: missing field 'gold'" in capsys.readouterr().err
    src.write_text('{"completion": "x", "gold": "not a tests dict"}\n')
    assert main(["verify", "code", "--input", str(src), "--out", str(out)]) == 2
    assert "in.jsonl:1: field 'gold'" in capsys.readouterr().err
    assert out.read_text() == "previous results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]  # no temp left


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_mixed_store_is_verified_per_sample_kind(tmp_path, capsys, fmt):
    from reasoning_distill.verification import read_verdicts
    from tests.cli._verify_rows import make_store, mixed_samples

    store = make_store(tmp_path / "gen", mixed_samples(), fmt)
    assert main(["verify", "--samples", str(store)]) == 0
    assert "4 samples verified now, 0 already" in capsys.readouterr().out
    got = {k: (r.kind, r.reason, r.verifier) for k, r in read_verdicts(store).items()}
    assert got == {
        ("m1", 0): ("math", "ok", "math+format"),
        ("m1", 1): ("math", "wrong_answer", "math+format"),
        ("c1", 0): ("code", "ok", "code+format"),
        ("c1", 1): ("code", "wrong_answer", "code+format"),
    }
    # a rerun verifies nothing again
    assert main(["verify", "--samples", str(store)]) == 0
    assert "0 samples verified now, 4 already" in capsys.readouterr().out
    assert len((store / "verdicts.jsonl").read_text().splitlines()) == 4


def test_unboxed_answers_are_read_only_when_asked(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    completion = "<think>x</think> Adding them gives $10,455$ in total."
    _write(src, [{"completion": completion, "gold": "10455", "finish_reason": "stop"}])
    assert main(["verify", "math", "--input", str(src), "--out", str(out)]) == 0
    (default,) = _read(out)
    assert default["verdict"]["reason"] == "no_answer"  # boxed-only, R1's protocol
    assert (
        main(["verify", "math", "--input", str(src), "--out", str(out), "--unboxed", "math_verify"])
        == 0
    )
    (opted,) = _read(out)
    assert opted["verdict"]["correct"] is True
    assert opted["verdict"]["details"]["method"] == "math_verify_latex"


def test_no_think_accepts_the_unboxed_answer_the_markers_read(tmp_path, capsys):
    # A model that does not reason in tags and ends GSM8K-style with `#### 28`: verify reads
    # 28 with the default `--unboxed markers`, so the format check must not demand a box.
    from reasoning_distill.verification import read_verdicts
    from tests.cli._verify_rows import make_store

    rows = [
        dict(problem_id="g1", kind="math", gold="28", completion="7 * 4 = 28\n#### 28"),
        dict(problem_id="g2", kind="math", gold="28", completion="So \\boxed{28}."),
        dict(problem_id="g3", kind="math", gold="28", completion="I give up."),
    ]
    store = make_store(tmp_path / "gen", rows)
    assert main(["verify", "--samples", str(store), "--no-think"]) == 0
    got = {k[0]: (v.reason, v.extracted) for k, v in read_verdicts(store).items()}
    assert got == {"g1": ("ok", "28"), "g2": ("ok", "28"), "g3": ("no_answer", None)}
    # `--unboxed refuse` counts boxed answers only, and the format check then demands one.
    assert (
        main(["verify", "--samples", str(store), "--no-think", "--unboxed", "refuse", "--redo"])
        == 0
    )
    strict = {k[0]: v.reason for k, v in read_verdicts(store).items()}
    assert strict == {"g1": "no_answer", "g2": "ok", "g3": "no_answer"}
