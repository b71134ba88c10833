"""`rdistill eval` (and `rdistill gap` after it) through the CLI on real tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli._rdistill import rdistill as _rdistill


@pytest.fixture(scope="module")
def toy_models(tmp_path_factory) -> tuple[Path, Path]:
    """The toy world's teacher (a few steps) and an untrained student on its tokenizer."""
    from reasoning_distill.toy.models import TEST_ARCH, init_model
    from reasoning_distill.toy.world import get_teacher
    from reasoning_distill.training.data import load_tokenizer
    from tests.toy.tiny_teacher import TINY

    root = tmp_path_factory.mktemp("toy")
    teacher = get_teacher(TINY, cache_dir=root / "cache").path
    tokenizer = load_tokenizer(str(teacher))
    student = root / "student"
    init_model(tokenizer, TEST_ARCH, seed=1).save_pretrained(str(student))
    tokenizer.save_pretrained(str(student))
    return teacher, student


@pytest.mark.slow
def test_eval_then_gap_on_the_toy_world(toy_models, tmp_path):
    teacher, student = toy_models
    out = tmp_path / "eval"
    args = ["eval", "--model", f"teacher={teacher}", "--model", f"student={student}",
            "--teacher", "teacher", "--benchmark", "toy_math", "--benchmark", "toy_code",
            "--limit", "6", "--n", "2", "--out", str(out)]  # fmt: skip
    proc = _rdistill(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("teacher", "student"):
        env = json.loads((out / name / "results.json").read_text())
        assert set(env["benchmarks"]) == {"toy_math", "toy_code"}
        assert env["manifest"]["benchmarks"]["toy_math"]["max_tokens"] == 96
        assert all(len(p["correct"]) == 2 for p in env["benchmarks"]["toy_code"]["problems"])
    gap = json.loads((out / "gap" / "gap.json").read_text())
    assert set(gap["benchmarks"]) == {"toy_math", "toy_code"} and gap["teacher"] == "teacher"
    assert "gap report" in proc.stdout
    # A rerun regenerates and re-verifies nothing (samples and verdicts are cached).
    again = _rdistill(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 to generate" in again.stderr and "verifying" not in again.stderr
    # The gap report again, from the saved results alone.
    proc = _rdistill("gap", "--teacher", str(out / "teacher"), "--student", str(out / "student"),
                     "--out", str(tmp_path / "gap"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (
        json.loads((tmp_path / "gap" / "gap.json").read_text())["benchmarks"] == gap["benchmarks"]
    )


@pytest.mark.slow
def test_one_model_writes_results_only_and_says_so(toy_models, tmp_path):
    teacher, _ = toy_models
    out = tmp_path / "eval"
    proc = _rdistill("eval", "--model", f"teacher={teacher}", "--benchmark", "toy_math",
                     "--limit", "3", "--n", "1", "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "teacher" / "results.json").is_file() and not (out / "gap").exists()
    assert "results only, no gap report" in proc.stdout


@pytest.mark.slow
def test_eval_takes_verify_s_format_options_and_says_what_the_format_check_decided(
    toy_models, tmp_path
):
    from reasoning_distill.eval.evaluate import format_policy

    _, student = toy_models  # untrained: whatever it writes, the policy decides how it counts
    base = ["eval", "--model", f"student={student}", "--benchmark", "toy_math",
            "--limit", "3", "--n", "2"]  # fmt: skip
    policies = {
        "strict": ([], format_policy()),
        "no_think": (["--no-think"], format_policy(require_think=False)),
        "loose": (["--no-check-format"], format_policy(check_format=False)),
    }
    decided = {}
    for name, (flags, policy) in policies.items():
        proc = _rdistill(*base, *flags, "--out", str(tmp_path / name))
        assert proc.returncode == 0, proc.stderr[-3000:]
        env = json.loads((tmp_path / name / "student" / "results.json").read_text())
        assert env["manifest"]["verifier"]["format"] == policy
        bench = env["benchmarks"]["toy_math"]
        reasons = [
            r
            for p in bench["problems"]
            for r, d in zip(p["reasons"], p["format_decided"], strict=True)
            if d
        ]
        decided[name] = bench["metrics"]["format_decided"]
        assert decided[name]["count"] == len(reasons) and decided[name]["of"] == 6
        assert decided[name]["by_reason"] == {r: reasons.count(r) for r in set(reasons)}
    assert decided["loose"]["count"] == 0
    assert not {"no_think", "unclosed_think"} & set(decided["no_think"]["by_reason"])
    # Another policy is another verifier: the gap report refuses to compare across it.
    proc = _rdistill("gap", "--teacher", str(tmp_path / "strict" / "student"),
                     "--student", str(tmp_path / "loose" / "student"),
                     "--out", str(tmp_path / "gap"))  # fmt: skip
    assert proc.returncode != 0 and "verifier.format" in proc.stderr + proc.stdout


@pytest.mark.slow
def test_eval_two_models_on_gsm8k(tmp_path, shared_benchmarks):
    from reasoning_distill.toy.models import make_tiny_model

    model = make_tiny_model(tmp_path / "tiny", ["The answer is \\boxed{18}. <think></think>"] * 20)
    out = tmp_path / "eval"
    proc = _rdistill("eval", "--model", f"teacher={model}", "--model", f"student={model}",
                     "--teacher", "teacher", "--benchmark", f"gsm8k={shared_benchmarks / 'gsm8k_test.jsonl'}",
                     "--limit", "3", "--n", "2", "--max-tokens", "8", "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    env = json.loads((out / "teacher" / "results.json").read_text())
    problems = env["benchmarks"]["gsm8k"]["problems"]
    assert len(problems) == 3 and all(len(p["correct"]) == 2 for p in problems)
    assert all(r for p in problems for r in p["reasons"])
    # The same model twice: the manifests agree, so the gap is computed (recovery 1 or n/a).
    gap = json.loads((out / "gap" / "gap.json").read_text())
    assert gap["mismatches"] == {} and "gsm8k" in gap["benchmarks"]
    assert env["warnings"] == []  # gsm8k has no common-protocol n to warn about


@pytest.mark.slow
@pytest.mark.vllm
def test_eval_through_vllm_records_its_engine_options(toy_models, tmp_path):
    """The shared engine flags reach vLLM, and the manifest names what changes numbers."""
    import os

    from reasoning_distill.toy.models import Arch, init_model
    from reasoning_distill.training.data import load_tokenizer

    teacher, _ = toy_models
    # vLLM's CPU attention needs a head size it has kernels for (32 here, as in its tests).
    tokenizer = load_tokenizer(str(teacher))
    model = tmp_path / "m"
    init_model(tokenizer, Arch(64, 2, 2, 1, 128, 512), seed=2).save_pretrained(str(model))
    tokenizer.save_pretrained(str(model))
    out = tmp_path / "eval"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    proc = _rdistill("eval", "--model", f"t={model}",
         "--benchmark", "toy_math", "--limit", "3", "--n", "2", "--engine", "vllm",
         "--dtype", "float32", "--max-model-len", "512", "--enforce-eager", "--out", str(out),
         timeout=900, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads((out / "t" / "results.json").read_text())["manifest"]
    assert m["engine"]["name"] == "vllm" and m["engine"]["version"].startswith("vllm ")
    opts = m["engine"]["options"]
    assert opts["dtype"] == "float32" and opts["max_model_len"] == 512
    assert opts["enforce_eager"] is True and "tensor_parallel_size" in opts
