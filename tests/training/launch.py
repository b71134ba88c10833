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
