"""`rdistill gap` bad inputs: one line, exit 2, no traceback, nothing written or lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasoning_distill.cli.main import main
from tests.cli._eval_envelopes import envelope, teacher_student, write


def _setup(tmp: Path) -> dict[str, Path]:
    t, s = teacher_student()
    paths = {
        "teacher": write(tmp / "teacher", envelope("teacher", t)),
        "student": write(tmp / "student", envelope("student", s)),
        "other_n": write(
            tmp / "other_n", envelope("student", s, sampling__temperature=1.0, sampling__seed=7)
        ),
    }
    (tmp / "broken").mkdir()
    (tmp / "broken" / "results.json").write_text("{not json")
    (tmp / "plain").mkdir()
    (tmp / "plain" / "results.json").write_text(json.dumps({"toy_math": {"teacher": t}}))
    multi = {"toy_math": {"teacher": t, "student": s}}
    (tmp / "multi.json").write_text(json.dumps(multi))
    ragged = json.loads(json.dumps(multi))
    ragged["toy_math"]["student"]["p3"] = [True]
    (tmp / "ragged.json").write_text(json.dumps(ragged))
    # Hand-edited envelopes: each breaks one field `rdistill gap` reads.
    for case, edit in HAND_EDITS.items():
        env = envelope("student", s)
        edit(env)
        write(tmp / case, env)
    write(tmp / "fewer_samples", envelope("student", {k: v[:2] for k, v in s.items()}))
    (tmp / "afile").write_text("keep me")
    (tmp / "foreign").mkdir()
    (tmp / "foreign" / "notes.txt").write_text("keep me")
    return paths


def _problem(env: dict, i: int) -> dict:
    return env["benchmarks"]["toy_math"]["problems"][i]


HAND_EDITS = {
    "no_manifest": lambda e: e.pop("manifest"),
    "manifest_string": lambda e: e.update(manifest="hf, n=4"),
    "no_model": lambda e: e.pop("model"),
    "model_no_name": lambda e: e.update(model={"path": "/m"}),
    "engine_string": lambda e: e["manifest"].update(engine="hf"),
    "bench_manifest_list": lambda e: e["manifest"].update(benchmarks=["toy_math"]),
    "uneven_samples": lambda e: _problem(e, 3).update(correct=[True]),
    "no_samples": lambda e: _problem(e, 3).update(correct=[]),
    "no_id": lambda e: _problem(e, 3).pop("id"),
    "duplicate_id": lambda e: _problem(e, 3).update(id="p0"),
    "tokens_string": lambda e: _problem(e, 3).update(tokens="many"),
}


def _args(tmp: Path, *extra: str, out: str = "out") -> list[str]:
    return ["gap", *extra, "--out", str(tmp / out)]


def _pair(teacher: str, student: str, out: str = "out"):
    """The arguments `--teacher TMP/<teacher> --student TMP/<student>` (folders under tmp)."""
    return lambda t: _args(t, "--teacher", f"{t}/{teacher}", "--student", f"{t}/{student}", out=out)


CASES = [
    ("teacher folder missing", _pair("nope", "student"), "no results.json there"),
    ("teacher not JSON", _pair("broken", "student"), "not valid JSON"),
    ("not an envelope", _pair("plain", "student"), "--results"),
    ("no student", lambda t: _args(t, "--teacher", f"{t}/teacher"), "at least one --student"),
    ("protocols differ", _pair("teacher", "other_n"), "sampling.temperature"),
    ("out is a file", _pair("teacher", "student", out="afile"), "not a folder"),
    ("out under a file", _pair("teacher", "student", out="afile/x"), "is a file"),
    ("out not ours", _pair("teacher", "student", out="foreign"), "not written by this command"),
    ("results: misspelled teacher", lambda t: _args(t, "--results", f"{t}/multi.json", "--teacher", "techer"), "known: student, teacher"),
    ("results: unknown compare", lambda t: _args(t, "--results", f"{t}/multi.json", "--teacher", "teacher", "--compare", "teacher:ghost"), "'ghost'"),
    ("results: missing file", lambda t: _args(t, "--results", f"{t}/none.json", "--teacher", "teacher"), "no such file"),
    ("results: ragged samples", lambda t: _args(t, "--results", f"{t}/ragged.json", "--teacher", "teacher"), "'p3'"),
    ("hand-edit: no model", _pair("no_model", "student"), 'no_model/results.json: field "model" is missing'),
    ("results with student", lambda t: _args(t, "--results", f"{t}/multi.json", "--teacher", "teacher", "--student", f"{t}/student"), "does not go with --results"),
]  # fmt: skip

# A student folder edited by hand (EDITS) -> what the one error line names.
HAND_EDITED_STUDENTS = {
    "no_manifest": 'no_manifest/results.json: field "manifest" is missing',
    "manifest_string": 'manifest_string/results.json: field "manifest" must be an object, got a string',
    "model_no_name": 'model_no_name/results.json: field "model.name" must be a non-empty string',
    "engine_string": 'engine_string/results.json: field "manifest.engine" must be an object',
    "bench_manifest_list": 'field "manifest.benchmarks" must be an object, got a list',
    "uneven_samples": "uneven_samples/results.json: benchmark 'toy_math', problem 4 ('p3'): 'correct' has 1 samples but problem 'p0' has 4",
    "fewer_samples": 'fewer_samples/results.json: benchmark \'toy_math\': 2 samples per problem but "manifest.sampling.n" is 4',
    "no_samples": "problem 4 ('p3'): 'correct' is empty",
    "no_id": 'problem 4: field "id" must be a string, got null',
    "duplicate_id": "problem 4: id 'p0' is also problem 1",
    "tokens_string": "'tokens' must be a list of numbers",
}  # fmt: skip

CASES += [
    (f"hand-edit: {name}", _pair("teacher", name), expect)
    for name, expect in HAND_EDITED_STUDENTS.items()
]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case,argv,expect", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(case, argv, expect, tmp_path, capsys):
    _setup(tmp_path)
    before = _snapshot(tmp_path)
    rc = main(argv(tmp_path))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("rdistill gap: error:"), err
    assert expect in lines[0], lines[0]
    assert "Traceback" not in err
    assert _snapshot(tmp_path) == before
    assert not (tmp_path / "out").exists()


def test_protocol_refusal_names_every_difference(tmp_path, capsys):
    _setup(tmp_path)
    main(_args(tmp_path, "--teacher", f"{tmp_path}/teacher", "--student", f"{tmp_path}/other_n"))
    err = capsys.readouterr().err
    assert "sampling.temperature: teacher 0.6 vs student 1.0" in err
    assert "sampling.seed: teacher 1234 vs student 7" in err
    assert "2 difference(s)" in err and "--allow-mismatch" in err
