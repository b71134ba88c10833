"""Every data and eval command on SmolLM2-135M-Instruct, through the CLI as a user runs it.

A handful of GSM8K-style problems and short outputs keep the folder to minutes on 2 cores.
The assertions are about what the commands do with a real model's output (files, counts, the
reasons verdicts give and how they follow from finish reasons), never about its score.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli._rdistill import rdistill
from tests.real_model.conftest import PROBLEMS

pytestmark = pytest.mark.real_model

MAX_TOKENS = 24
# A stop string a short answer reaches within MAX_TOKENS, so that both finish reasons occur.
STOP = "."
# The format check's reasons for a completion without a think block or cut off.
THINK_REASONS = {"no_think", "unclosed_think", "malformed_think"}


def _ok(proc) -> None:
    assert proc.returncode == 0, (
        f"rc {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    )


def _samples(store: Path) -> list[dict]:
    from dataclasses import asdict

    from reasoning_distill.generation.store import load_samples

    rows = [asdict(s) for s in load_samples(store)]
    return sorted(rows, key=lambda s: (s["problem_id"], s["sample_index"]))


def _verdicts(store: Path) -> dict[tuple[str, int], dict]:
    rows = [json.loads(line) for line in (store / "verdicts.jsonl").read_text().splitlines()]
    return {(r["problem_id"], r["sample_index"]): r for r in rows}


def _generate_argv(model: Path, problems: Path, out: Path, *extra: str) -> list[str]:
    return [
        "generate",
        *("--model", str(model), "--input", str(problems), "--out", str(out)),
        *("--prompt-field", "question", "--gold-field", "answer", "--kind", "math"),
        *("--n", "1", "--max-tokens", str(MAX_TOKENS), "--stop", STOP, "--seed", "0"),
        *extra,
    ]


@pytest.fixture(scope="module")
def hf_store(smollm2, problems_file, tmp_path_factory) -> Path:
    """A store generated with the transformers engine (kept pristine: tests copy it)."""
    out = tmp_path_factory.mktemp("gen") / "store"
    proc = rdistill(
        *_generate_argv(smollm2, problems_file, out, "--engine", "hf", "--batch-size", "4")
    )
    _ok(proc)
    return out


def _copy(store: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(store, tmp_path / "store"))


def _check_samples(samples: list[dict], model: Path, engine: str) -> None:
    assert [(s["problem_id"], s["sample_index"]) for s in samples] == [
        (p["id"], 0) for p in PROBLEMS
    ]
    for s, p in zip(samples, PROBLEMS, strict=True):
        assert s["engine"] == engine and s["model"] == str(model) and s["gold"] == p["answer"]
        # SmolLM2's own chat template, with the math prompt asking for a box.
        assert s["prompt"].startswith("<|im_start|>system\n") and p["question"] in s["prompt"]
        assert s["prompt"].endswith("<|im_start|>assistant\n") and "\\boxed{}" in s["prompt"]
        assert s["finish_reason"] in {"stop", "length"}, s["finish_reason"]
        assert 0 < s["completion_tokens"] <= MAX_TOKENS
        if s["finish_reason"] == "length":
            assert s["completion_tokens"] == MAX_TOKENS
        else:  # the stop string ends the completion and is not kept
            assert STOP not in s["completion"]


def test_generate_with_transformers(hf_store, smollm2, problems_file):
    _check_samples(_samples(hf_store), smollm2, "hf")
    manifest = json.loads((hf_store / "manifest.json").read_text())
    assert manifest["engine"]["dtype"] == "float32"
    assert manifest["identity"]["sampling"]["max_tokens"] == MAX_TOKENS
    # The same command again: every sample is there, nothing is generated.
    again = rdistill(
        *_generate_argv(smollm2, problems_file, hf_store, "--engine", "hf", "--batch-size", "4")
    )
    _ok(again)
    assert f"0 ({len(PROBLEMS)} were already done)" in again.stdout


@pytest.mark.vllm
def test_generate_with_vllm(smollm2, problems_file, tmp_path):
    out = tmp_path / "vllm"
    argv = _generate_argv(smollm2, problems_file, out, "--engine", "vllm", "--dtype", "float32")
    # Default memory share: the CPU build must pick a KV cache that starts.
    proc = rdistill(*argv, "--max-model-len", "512", "--enforce-eager", timeout=900)
    _ok(proc)
    _check_samples(_samples(out), smollm2, "vllm")
    assert json.loads((out / "manifest.json").read_text())["engine"]["dtype"] == "float32"


def test_verify_reasons_follow_the_format_policy(hf_store, tmp_path):
    store = _copy(hf_store, tmp_path)
    samples = {(s["problem_id"], s["sample_index"]): s for s in _samples(store)}
    # Default: the format check is on and wants a think block SmolLM2 never writes.
    _ok(rdistill("verify", "--samples", str(store), "--workers", "1"))
    verdicts = _verdicts(store)
    assert verdicts.keys() == samples.keys()
    for key, v in verdicts.items():
        s = samples[key]
        assert v["correct"] is False and v["details"]["decided_by"] == "format"
        if s["finish_reason"] == "length":
            assert v["reason"] == "truncated"
        elif "<think>" not in s["completion"] and "</think>" not in s["completion"]:
            assert v["reason"] == "no_think", (v, s["completion"])

    # Other verifier options without --redo are refused; with it, no think block is asked.
    assert (
        rdistill("verify", "--samples", str(store), "--no-think", "--workers", "1").returncode != 0
    )
    _ok(rdistill("verify", "--samples", str(store), "--no-think", "--redo", "--workers", "1"))
    verdicts = _verdicts(store)
    assert verdicts.keys() == samples.keys()
    for key, v in verdicts.items():
        assert v["reason"] not in THINK_REASONS
        assert (v["reason"] == "truncated") == (samples[key]["finish_reason"] == "length")

    # No format check at all: a cut-off answer is read as it stands.
    _ok(
        rdistill("verify", "--samples", str(store), "--no-check-format", "--redo", "--workers", "1")
    )
    verdicts = _verdicts(store)
    assert verdicts.keys() == samples.keys()
    assert all(v["reason"] not in THINK_REASONS | {"truncated"} for v in verdicts.values())


def test_build_from_a_recipe(smollm2, problems_file, tmp_path):
    from datasets import load_from_disk

    shutil.copy(problems_file, tmp_path / "problems.jsonl")
    recipe = tmp_path / "smollm2.yaml"
    recipe.write_text(
        f"""\
# SmolLM2 as the teacher of three GSM8K-style problems, every sample kept.
#   rdistill build smollm2.yaml --root DIR
# Hardware: a CPU
name: smollm2_gsm
sources:
  - name: gsm
    path: problems.jsonl
    fields: {{problem: question, answer: answer, id: id}}
    kind: math
prompt:
  system: null
teacher:
  engine: hf
  model: {smollm2}
  options: {{batch_size: 4}}
  sampling: {{n: 1, temperature: 0.6, top_p: 0.95, max_tokens: {MAX_TOKENS}, stop: ["{STOP}"], seed: 0}}
verify:
  format: {{enabled: true, require_think: false}}
select:
  keep: all
dedupe:
  exact: true
  near: null
decontaminate:
  benchmarks: []
output:
  dir: out/ds
  parquet: false
"""
    )
    proc = rdistill("build", str(recipe), "--root", str(tmp_path), "--workers", "1")
    _ok(proc)
    assert (
        f"{len(PROBLEMS)} rows from {len(PROBLEMS)} samples of {len(PROBLEMS)} problems"
        in proc.stdout
    )
    ds = load_from_disk(str(tmp_path / "out" / "ds"))
    assert sorted(ds["problem_id"]) == [f"gsm-{p['id']}" for p in PROBLEMS]  # source-prefixed
    for row in ds:
        roles = [m["role"] for m in row["messages"]]
        assert roles[-2:] == ["user", "assistant"] and row["messages"][-1]["content"]
    assert (tmp_path / "out" / "ds" / "README.md").is_file()
    # A rerun of the unchanged recipe generates nothing again: the teacher's shards stay.
    shards = {f: f.stat().st_mtime_ns for f in (tmp_path / "out" / "ds.work").rglob("samples-*")}
    assert shards
    again = rdistill("build", str(recipe), "--root", str(tmp_path), "--workers", "1")
    _ok(again)
    assert {f: f.stat().st_mtime_ns for f in shards} == shards and "to generate" not in again.stderr


@pytest.fixture(scope="module")
def eval_out(smollm2, problems_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "eval"
    proc = rdistill(
        "eval", "--model", f"smol={smollm2}", "--benchmark", f"gsm8k={problems_file}",
        "--n", "1", "--max-tokens", str(MAX_TOKENS), "--no-think", "--workers", "1",
        "--out", str(out),
    )  # fmt: skip
    _ok(proc)
    assert "format check" in proc.stdout
    return out


def test_eval_without_think(eval_out, hf_store):
    env = json.loads((eval_out / "smol" / "results.json").read_text())
    manifest = env["manifest"]
    assert "without a think block" in manifest["verifier"]["format"]
    bench = env["benchmarks"]["gsm8k"]
    assert [p["id"] for p in bench["problems"]] == [p["id"] for p in PROBLEMS]
    decided = 0
    for p in bench["problems"]:
        assert len(p["correct"]) == len(p["reasons"]) == len(p["finish"]) == 1
        assert not set(p["reasons"]) & THINK_REASONS
        for reason, finish, by_format in zip(
            p["reasons"], p["finish"], p["format_decided"], strict=True
        ):
            assert (reason == "truncated") == (finish == "length")
            if reason == "truncated":
                assert by_format
            decided += by_format
        assert all(t <= MAX_TOKENS for t in p["tokens"])
    assert bench["metrics"]["format_decided"]["count"] == decided
    assert bench["metrics"]["format_decided"]["of"] == len(PROBLEMS)
    # One prompt for a math problem, whichever command sends it.
    generated = json.loads((hf_store / "manifest.json").read_text())["prompt_template"]["text"]
    assert manifest["benchmarks"]["gsm8k"]["prompt_template"]["text"] == generated


def test_eval_rescores_without_the_format_check(eval_out, smollm2, problems_file, tmp_path):
    out = Path(shutil.copytree(eval_out, tmp_path / "eval"))
    proc = rdistill(
        "eval", "--model", f"smol={smollm2}", "--benchmark", f"gsm8k={problems_file}",
        "--n", "1", "--max-tokens", str(MAX_TOKENS), "--no-check-format", "--workers", "1",
        "--out", str(out),
    )  # fmt: skip
    _ok(proc)
    assert "0 to generate" in proc.stderr
    bench = json.loads((out / "smol" / "results.json").read_text())["benchmarks"]["gsm8k"]
    assert bench["metrics"]["format_decided"]["count"] == 0
    assert all(
        r not in THINK_REASONS | {"truncated"} for p in bench["problems"] for r in p["reasons"]
    )


def test_gap_on_the_saved_results(eval_out, tmp_path):
    results = eval_out / "smol"
    out = tmp_path / "gap"
    _ok(
        rdistill(
            "gap", "--teacher", str(results), "--student", f"again={results}", "--out", str(out)
        )
    )
    assert {p.name for p in out.iterdir()} >= {"gap.json", "gap.md", "gap.html"}
    gap = json.loads((out / "gap.json").read_text())
    row = gap["benchmarks"]["gsm8k"]["again"]
    assert row["n_problems"] == len(PROBLEMS) and row["difference"] == 0
    assert sum(row["problem_table"].values()) == len(PROBLEMS)
    metrics = json.loads((results / "results.json").read_text())["benchmarks"]["gsm8k"]["metrics"]
    assert row["format_decided"]["teacher"]["count"] == metrics["format_decided"]["count"]
    assert "format check" in (out / "gap.md").read_text()
