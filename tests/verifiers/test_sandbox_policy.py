"""Untrusted code under weaker isolation than bubblewrap: `verify` and `build` refuse it unless
the user opts in (flag, recipe key, environment variable), naming the isolation and what it
does not stop; math-only data never needs the sandbox; the demo's report says which ran.

`RDISTILL_SANDBOX_NO_BWRAP=1` forces the weaker path (what a machine without bubblewrap gets).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reasoning_distill.verifiers.sandbox import close_sandboxes, sandbox_info

from reasoning_distill.cli.main import main
from tests.cli._verify_rows import PLUS3, code_completion, make_store, write_jsonl

CODE_ROW = {"completion": code_completion("return x + 3"), "gold": PLUS3, "kind": "code"}
MATH_ROW = {"completion": "<think>x</think> \\boxed{5}", "gold": "5", "kind": "math"}


@pytest.fixture
def weak(monkeypatch):
    """The fallback isolation, with no opt-in from the environment of the test run."""
    monkeypatch.setenv("RDISTILL_SANDBOX_NO_BWRAP", "1")
    monkeypatch.delenv("RDISTILL_ALLOW_WEAK_SANDBOX", raising=False)
    close_sandboxes()
    sandbox_info.cache_clear()
    yield sandbox_info()["isolation"]
    close_sandboxes()
    sandbox_info.cache_clear()


def _run(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err.strip()


def _assert_refused(code: int, err: str, isolation: str) -> None:
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert repr(isolation) in err and "RDISTILL_SANDBOX_NO_BWRAP=1" in err
    for said in ("/tmp", "world-readable", "processes", "--allow-weak-sandbox", "bubblewrap"):
        assert said in err, (said, err)
    assert "verify.code.allow_weak_sandbox: true" in err and "RDISTILL_ALLOW_WEAK_SANDBOX=1" in err


def test_isolation_is_weak_under_the_forcing_variable(weak):
    assert weak != "bubblewrap"


def test_verify_input_with_code_is_refused_and_writes_nothing(tmp_path, capsys, weak):
    src = write_jsonl(tmp_path / "in.jsonl", [MATH_ROW, CODE_ROW])
    before = src.read_bytes()
    out = tmp_path / "out.jsonl"
    code, err = _run(capsys, "verify", "auto", "--input", str(src), "--out", str(out))
    _assert_refused(code, err, weak)
    assert "1 code rows" in err and str(src) in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]
    assert src.read_bytes() == before


def test_verify_samples_with_code_is_refused(tmp_path, capsys, weak):
    sample = {"problem_id": "p", "sample_index": 0, "messages": [], "kind": "code"}
    store = make_store(
        tmp_path / "gen", [{**sample, "completion": CODE_ROW["completion"], "gold": PLUS3}]
    )
    listing = sorted(p.name for p in store.iterdir())
    code, err = _run(capsys, "verify", "--samples", str(store))
    _assert_refused(code, err, weak)
    assert sorted(p.name for p in store.iterdir()) == listing  # no verdicts.jsonl


@pytest.mark.parametrize("how", ["flag", "env"])
def test_verify_opt_in_runs_the_code(tmp_path, capsys, monkeypatch, weak, how):
    src = write_jsonl(tmp_path / "in.jsonl", [CODE_ROW])
    out = tmp_path / "out.jsonl"
    extra = ["--allow-weak-sandbox"] if how == "flag" else []
    if how == "env":
        monkeypatch.setenv("RDISTILL_ALLOW_WEAK_SANDBOX", "1")
    code, err = _run(capsys, "verify", "code", "--input", str(src), "--out", str(out), *extra)
    assert code == 0, err
    verdict = json.loads(out.read_text())["verdict"]
    assert verdict["correct"] and verdict["details"]["isolation"] == weak


def test_env_values_other_than_1_do_not_opt_in(tmp_path, capsys, monkeypatch, weak):
    monkeypatch.setenv("RDISTILL_ALLOW_WEAK_SANDBOX", "yes")
    src = write_jsonl(tmp_path / "in.jsonl", [CODE_ROW])
    code, err = _run(capsys, "verify", "code", "--input", str(src), "--out", str(tmp_path / "o"))
    _assert_refused(code, err, weak)


def test_math_only_data_is_not_refused(tmp_path, capsys, weak):
    src = write_jsonl(tmp_path / "in.jsonl", [MATH_ROW])
    out = tmp_path / "out.jsonl"
    code, err = _run(capsys, "verify", "auto", "--input", str(src), "--out", str(out))
    assert code == 0, err
    assert json.loads(out.read_text())["verdict"]["correct"]


def _recipe(tmp_path: Path, kind: str = "code", code_opts: str = "{timeout_s: 6}") -> Path:
    """A recipe whose source file is missing: past the sandbox check, the build stops there
    (naming the file), which is how a test tells 'refused' from 'allowed' without a model."""
    path = tmp_path / "r.yaml"
    path.write_text(
        f"""name: weak
sources:
  - name: src
    path: problems.jsonl
    kind: {kind}
    fields: {{tests: tests}}
teacher:
  engine: hf
  model: "toy:"
verify:
  code: {code_opts}
output:
  dir: {tmp_path / "out"}
"""
    )
    return path


def _build(capsys, recipe: Path, tmp_path: Path, *extra: str) -> tuple[int, str]:
    return _run(capsys, "build", str(recipe), "--root", str(tmp_path), *extra)


def test_build_with_code_sources_is_refused_before_anything_runs(tmp_path, capsys, weak):
    recipe = _recipe(tmp_path)
    code, err = _build(capsys, recipe, tmp_path)
    _assert_refused(code, err, weak)
    assert "source(s) src" in err and str(recipe) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.yaml"]  # no out, no work folder


@pytest.mark.parametrize("how", ["flag", "recipe", "env"])
def test_build_opt_in_passes_the_check(tmp_path, capsys, monkeypatch, weak, how):
    recipe = _recipe(
        tmp_path, code_opts="{allow_weak_sandbox: true}" if how == "recipe" else "{timeout_s: 6}"
    )
    if how == "env":
        monkeypatch.setenv("RDISTILL_ALLOW_WEAK_SANDBOX", "1")
    code, err = _build(
        capsys, recipe, tmp_path, *(["--allow-weak-sandbox"] if how == "flag" else [])
    )
    assert code == 2 and "problems.jsonl" in err and "sandbox" not in err, err


def test_build_of_math_only_recipe_is_not_refused(tmp_path, capsys, weak):
    code, err = _build(capsys, _recipe(tmp_path, kind="math", code_opts="{}"), tmp_path)
    assert code == 2 and "problems.jsonl" in err and "sandbox" not in err, err


def test_the_recipe_key_is_a_strict_bool(tmp_path, capsys, weak):
    recipe = _recipe(tmp_path, code_opts='{allow_weak_sandbox: "yes"}')
    code, err = _build(capsys, recipe, tmp_path)
    assert code == 2 and "allow_weak_sandbox" in err and len(err.splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.yaml"]


def test_the_demo_report_says_which_isolation_ran(weak):
    from reasoning_distill.eval.gap_report import render_markdown

    from reasoning_distill.demo.stages import sandbox_record
    from reasoning_distill.records import Sample

    def sample(kind: str) -> Sample:
        return Sample("p", 0, 0, "", [], "", None, "", "stop", 1, 1, "hf", "m", {}, kind=kind)

    record = sandbox_record([sample("math"), sample("code")])
    assert record["isolation"] == weak and record["code_samples"] == 1
    assert not record["bubblewrap"] and "/tmp" in record["note"]
    assert sandbox_record([sample("math")]) == {"isolation": "not used", "code_samples": 0}
    md = render_markdown({"verification": {"sandbox": record}})
    assert "sandbox" in md and weak in md
