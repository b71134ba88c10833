"""`rdistill train sft|rkl`: YAML defaults, flags override, a clear error for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

from reasoning_distill.cli.main import main


def test_train_sft_then_rkl_from_the_command_line(
    tiny_model_dir, sharp_teacher_dir, train_rows, tmp_path, capsys
):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in train_rows[:32]))
    cfg = tmp_path / "sft.yaml"
    cfg.write_text("max_steps: 50\nlearning_rate: 0.005\nper_device_train_batch_size: 8\n")
    rc = main(
        ["train", "sft", "--model", str(tiny_model_dir), "--dataset", str(data),
         "--out", str(tmp_path / "sft"), "--config", str(cfg), "--max-steps", "2",
         "--num-threads", "1"]
    )  # fmt: skip
    assert rc == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["steps"] == 2  # the flag beat the YAML
    log = json.loads((tmp_path / "sft" / "train_log.json").read_text())
    assert log["metrics"]["learning_rate"][0] > 0.004  # the YAML beat the default (1e-3)

    rc = main(
        ["train", "rkl", "--student", str(tmp_path / "sft" / "final"),
         "--teacher", str(sharp_teacher_dir), "--dataset", str(data),
         "--out", str(tmp_path / "rkl"), "--max-steps", "2", "--alpha", "0.5"]
    )  # fmt: skip
    assert rc == 0
    assert (tmp_path / "rkl" / "final" / "model.safetensors").is_file()


def test_bad_config_key_is_an_error_naming_it(tiny_model_dir, tmp_path, caplog):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("max_stepz: 3\n")
    rc = main(
        ["train", "sft", "--model", str(tiny_model_dir), "--dataset", str(tmp_path / "x.jsonl"),
         "--out", str(tmp_path / "o"), "--config", str(cfg)]
    )  # fmt: skip
    assert rc == 2
    assert "max_stepz" in caplog.text


def test_cli_module_import_is_light():
    code = (
        "import sys, reasoning_distill.cli.train as t, argparse;"
        "t.add_arguments(argparse.ArgumentParser());"
        "heavy = [m for m in ('torch', 'trl', 'transformers') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
