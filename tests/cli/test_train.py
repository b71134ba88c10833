"""`rdistill train sft|rkl|check`: TRL-style flags, recipe defaults, exit codes, light imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reasoning_distill.cli.main import main
from tests.training.training_fixtures import *  # noqa: F403  (the training fixtures, shared)


def _rows(tmp_path: Path, rows: list[dict]) -> Path:
    """`rows` as the JSONL dataset `tmp_path/train.jsonl`."""
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data


def _recipe(path: Path, **values) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(values))
    return path


def test_train_sft_then_rkl_from_the_command_line(
    tiny_model_dir, sharp_teacher_dir, train_rows, tmp_path, capsys
):
    data = _rows(tmp_path, train_rows[:32])
    recipe = _recipe(
        tmp_path / "sft.yaml",
        model_name_or_path=str(tiny_model_dir),
        dataset_name=str(data),
        output_dir=str(tmp_path / "sft"),
        max_steps=50,
        learning_rate=0.005,
        per_device_train_batch_size=8,
    )
    rc = main(
        ["train", "sft", "--config", str(recipe), "--max_steps", "2", "--torch_num_threads", "1"]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "ready" in out and "think" in out  # the pre-flight report came first
    printed = json.loads(out.strip().splitlines()[-1])
    assert printed["steps"] == 2  # the flag beat the recipe
    log = json.loads((tmp_path / "sft" / "train_log.json").read_text())
    assert log["metrics"]["learning_rate"][0] > 0.004  # the recipe beat the default (1e-3)
    assert (tmp_path / "sft" / "final" / "model.safetensors").is_file()

    rc = main(
        ["train", "rkl", "--model_name_or_path", str(tmp_path / "sft" / "final"),
         "--teacher_model_name_or_path", str(sharp_teacher_dir), "--dataset_name", str(data),
         "--output_dir", str(tmp_path / "rkl"), "--max_steps", "2", "--alpha", "0.5"]
    )  # fmt: skip
    assert rc == 0
    assert (tmp_path / "rkl" / "final" / "model.safetensors").is_file()


def test_check_exit_codes(tiny_model_dir, train_rows, tmp_path, capsys):
    data = _rows(tmp_path, train_rows[:16])
    recipe = _recipe(
        tmp_path / "r.yaml", model_name_or_path=str(tiny_model_dir), dataset_name=str(data)
    )
    assert main(["train", "check", "--config", str(recipe)]) == 0
    assert "ready" in capsys.readouterr().out
    # the model's context is 512 tokens
    assert main(["train", "check", "--config", str(recipe), "--max_length", "4096"]) == 1
    out = capsys.readouterr().out
    assert "context is 512" in out and "not ready" in out
    # train sft refuses the same recipe before loading weights: a refusal, exit 2
    rc = main(["train", "sft", "--config", str(recipe), "--max_length", "4096",
               "--output_dir", str(tmp_path / "o")])  # fmt: skip
    assert rc == 2
    captured = capsys.readouterr()
    assert "context is 512" in captured.out and "pre-flight" in captured.err
    assert not (tmp_path / "o").exists()


def test_check_names_a_template_that_raises_as_a_finding(tiny_model_dir, train_rows, tmp_path):
    """A template indexing `content.split('</think>')[1]` raises on a turn without a think
    block: the check reports it, with the template's own message, instead of a traceback."""
    import shutil

    from transformers import AutoTokenizer

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    tok = AutoTokenizer.from_pretrained(model)
    tok.chat_template = tok.chat_template.replace(
        "{{ message['content'] }}", "{{ message['content'].split('</think>')[1].strip() }}"
    )
    tok.save_pretrained(model)
    data = _rows(tmp_path, train_rows[:4])
    cmd = [sys.executable, "-m", "reasoning_distill.cli.main", "train", "check",
           "--model_name_or_path", str(model), "--dataset_name", str(data)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    out = " ".join(proc.stdout.split())
    assert "chat template raised an error rendering a probe conversation" in out
    assert "UndefinedError: list object has no element 1" in out and "not ready" in out


def test_interrupted_training_says_to_rerun_with_resume(tiny_model_dir, train_rows, tmp_path):
    """Ctrl-C during `train sft`: the hint names --resume true (a plain rerun refuses the
    folder's checkpoints)."""
    import signal
    import time

    data = _rows(tmp_path, train_rows[:16])
    args = ["--model_name_or_path", str(tiny_model_dir), "--dataset_name", str(data),
            "--output_dir", str(tmp_path / "run"), "--per_device_train_batch_size", "4",
            "--save_steps", "1", "--save_total_limit", "1", "--skip_check", "true",
            "--torch_num_threads", "1"]  # fmt: skip
    cmd = [sys.executable, "-m", "reasoning_distill.cli.main", "train", "sft", *args]
    proc = subprocess.Popen([*cmd, "--max_steps", "100000"], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not list((tmp_path / "run").glob("checkpoint-*/trainer_state.json")):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "rerun the same command with --resume true" in err
    assert "interrupted" in err.strip().splitlines()[-1]


def test_check_of_a_kl_recipe_compares_the_vocabularies(
    tiny_model_dir, sharp_teacher_dir, other_vocab_model_dir, train_rows, tmp_path, capsys
):
    data = _rows(tmp_path, train_rows[:16])
    recipe = _recipe(
        tmp_path / "kl.yaml",
        model_name_or_path=str(tiny_model_dir),
        dataset_name=str(data),
        teacher_model_name_or_path=str(sharp_teacher_dir),
        alpha=0.5,  # a KL-stage key: tolerated (and named) by the check
    )
    assert main(["train", "check", "--config", str(recipe)]) == 0
    out = capsys.readouterr().out
    assert "share one vocabulary" in out and "alpha" in out
    other = ["--teacher_model_name_or_path", str(other_vocab_model_dir)]
    assert main(["train", "check", "--config", str(recipe), *other]) == 1
    assert "token by token" in capsys.readouterr().out


def test_bad_recipe_key_and_missing_recipe_are_one_line_errors(tiny_model_dir, tmp_path, capsys):
    recipe = _recipe(tmp_path / "bad.yaml", max_stepz=3, model_name_or_path=str(tiny_model_dir))
    assert main(["train", "sft", "--config", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "max_stepz" in err and "bad.yaml" in err and "Traceback" not in err
    assert main(["train", "sft", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "no such recipe" in capsys.readouterr().err
    assert main(["train", "sft", "--max_steps", "0", "--model_name_or_path", "x"]) == 2
    assert "max_steps" in capsys.readouterr().err


def test_stage_help_lists_trl_fields(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "sft", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--packing", "--padding_free", "--use_peft", "--resume", "--skip_check"):
        assert flag in out


def test_cli_module_import_is_light():
    code = (
        "import sys, reasoning_distill.cli.train as t, argparse;"
        "t.add_arguments(argparse.ArgumentParser());"
        "heavy = [m for m in ('torch', 'trl', 'transformers') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        ([], "with --resume true"),
        (["--resume", "false"], "with --resume true"),
        (["--resume=no"], "with --resume true"),
        (["--resume", "true"], "rerun the same command to continue"),
        (["--resume"], "rerun the same command to continue"),
    ],
)
def test_resume_hint_names_the_flag_unless_given(flags, says):
    from reasoning_distill.cli.train import resume_hint

    assert says in resume_hint(["--max_steps", "3", *flags])


def test_distill_is_the_white_box_command_and_rkl_its_older_name():
    from tests.cli._rdistill import rdistill

    helps = {stage: rdistill("train", stage, "--help", timeout=300) for stage in ("distill", "rkl")}
    for stage, proc in helps.items():
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.startswith("usage: rdistill train distill"), proc.stdout[:200]
        for flag in ("--divergence", "--teacher_cache", "--mode", "--model_name_or_path"):
            assert flag in proc.stdout, (stage, flag)
    assert helps["distill"].stdout == helps["rkl"].stdout
