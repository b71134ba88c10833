"""Run a training entry point in one process or as two gloo ranks on this CPU (shared by the
SFT and reverse-KL distributed tests).

`accelerate launch --multi_gpu --num_processes 2` starts two processes, but on a machine without
GPUs each one trains alone (accelerate picks a CPU process group only when told the run is on
the CPU): `ACCELERATE_USE_CPU=true` makes them two gloo ranks of one run. `--cpu
--num_processes 2` instead starts a single process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
        ACCELERATE_USE_CPU="true",
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def run_entry(module: str, args: list[str], processes: int, port: int, timeout: float = 600):
    """`python -m module args` (1 process) or under `accelerate launch` (2+); raises with the
    output when it fails."""
    if processes == 1:
        cmd = [sys.executable, "-m", module, *args]
    else:
        cmd = [
            sys.executable, "-m", "accelerate.commands.launch",
            "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(port),
            "-m", module, *args,
        ]  # fmt: skip
    out = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {out.returncode}\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
        )
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_and_two_ranks(module: str, recipe: Path, tmp_path: Path) -> tuple[dict, dict]:
    """Train `module` from `recipe` in one process at batch 8 and as two ranks at batch 4 each
    (the same global batch); the two `train_log.json`s, in `tmp_path/p1` and `tmp_path/p2`."""
    import json

    runs = {}
    for procs, per_device in ((1, 8), (2, 4)):
        out_dir = tmp_path / f"p{procs}"
        run_entry(
            module,
            ["--config", str(recipe), "--output_dir", str(out_dir),
             "--per_device_train_batch_size", str(per_device)],
            processes=procs,
            port=_free_port(),
        )  # fmt: skip
        runs[procs] = json.loads((out_dir / "train_log.json").read_text())
    return runs[1], runs[2]


def assert_same_final_weights(tmp_path: Path) -> None:
    """The one-process and two-rank runs of `one_and_two_ranks` end with equal weights."""
    import torch
    from transformers import AutoModelForCausalLM

    a, b = (
        dict(AutoModelForCausalLM.from_pretrained(tmp_path / p / "final").named_parameters())
        for p in ("p1", "p2")
    )
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5)


def uneven_recipe(tmp_path: Path, **fields) -> Path:
    """A recipe for a 4-step run on rows of very different lengths (so the ranks hold
    different token counts), SGD at a fixed order: Adam's normalisation amplifies float32
    rounding differences between one process and two ranks. `fields` add to it."""
    import json

    import yaml

    from tests.training.arithmetic import arithmetic_messages

    short, long = arithmetic_messages(24, seed=5, terms=2), arithmetic_messages(24, 6, terms=7)
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for p in zip(short, long, strict=True) for r in p))
    recipe = tmp_path / "recipe.yaml"
    base = {
        "dataset_name": str(data),
        "max_steps": 4,
        "logging_steps": 1,
        "seed": 0,
        "save_strategy": "no",
        "train_sampling_strategy": "sequential",
        "optim": "sgd",
        "learning_rate": 0.5,
        "torch_num_threads": 1,
    }
    recipe.write_text(yaml.safe_dump({**base, **fields}))
    return recipe
