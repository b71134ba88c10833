"""`rdistill generate` end to end on the tiny model with the transformers engine."""

from __future__ import annotations

import json

import pytest

from reasoning_distill.cli.main import main
from reasoning_distill.generation.store import load_samples
from tests.generation.cli_args import generate_argv


@pytest.fixture()
def problems_file(tmp_path):
    f = tmp_path / "problems.jsonl"
    rows = [{"id": f"q{i}", "problem": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(4)]
    rows.insert(2, {"id": "bad", "question": "wrong field"})
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f


def args(model, inp, out, *extra):
    return generate_argv(model, inp, out, *extra, seed=1)


def test_generate_resumes_and_refuses_other_settings(
    tiny_model_dir, problems_file, tmp_path, capsys
):
    out = tmp_path / "out"
    # Row 3 lacks the prompt: stop by default, naming the row; nothing is written.
    assert main(args(tiny_model_dir, problems_file, out)) == 2
    assert "rows 3" in capsys.readouterr().err and not out.exists()

    assert main(args(tiny_model_dir, problems_file, out, "--on-missing", "skip")) == 0
    printed = capsys.readouterr().out
    assert "8 of 8" in printed and "truncated" in printed and "p95" in printed
    assert len(load_samples(out)) == 8

    assert main(args(tiny_model_dir, problems_file, out, "--on-missing", "skip")) == 0
    assert "0 (8 were already done)" in capsys.readouterr().out

    assert (
        main(
            args(tiny_model_dir, problems_file, out, "--on-missing", "skip", "--temperature", "1.0")
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "sampling.temperature: 0.6 in the folder, 1.0 now" in err
    assert len(load_samples(out)) == 8


def test_generate_bad_model_and_template(tiny_model_dir, problems_file, tmp_path, capsys):
    assert (
        main(
            args(
                tmp_path / "no" / "such" / "model",
                problems_file,
                tmp_path / "o1",
                "--on-missing",
                "skip",
            )
        )
        == 2
    )
    assert "does not exist" in capsys.readouterr().err
    from tests.generation import tiny_model

    no_gen = tiny_model.build(tmp_path / "nogen", template=tiny_model.CHATML_NO_GEN)
    assert main(args(no_gen, problems_file, tmp_path / "o2", "--on-missing", "skip")) == 2
    assert "adds no generation prompt" in capsys.readouterr().err


def test_math_is_asked_for_a_box_as_eval_asks_it_and_the_manifest_says_so(
    tiny_model_dir, problems_file, tmp_path, capsys
):
    from reasoning_distill.eval.benchmarks import get_benchmark

    from reasoning_distill.generation.prompts import build_prompt

    template = get_benchmark("gsm8k").prompt_template
    out = tmp_path / "boxed"
    assert main(args(tiny_model_dir, problems_file, out, "--on-missing", "skip")) == 0
    samples = load_samples(out)
    want = {f"q{i}": build_prompt(f"What is {i} + 1?", template) for i in range(4)}
    assert {s.problem_id: s.messages[-1]["content"] for s in samples} == want
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["prompt_template"]["text"] == template
    # --prompt-template plain asks the bare question; another template is stated as given.
    plain = tmp_path / "plain"
    flags = ("--on-missing", "skip", "--prompt-template", "plain")
    assert main(args(tiny_model_dir, problems_file, plain, *flags)) == 0
    assert {s.messages[-1]["content"] for s in load_samples(plain)} == {
        f"What is {i} + 1?" for i in range(4)
    }
    assert (
        json.loads((plain / "manifest.json").read_text())["prompt_template"]["text"] == "{problem}"
    )
    capsys.readouterr()
    bad = ("--on-missing", "skip", "--prompt-template", "no placeholder")
    assert main(args(tiny_model_dir, problems_file, tmp_path / "bad", *bad)) == 2
    assert "{problem}" in capsys.readouterr().err and not (tmp_path / "bad").exists()
