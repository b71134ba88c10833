"""Peak memory and time of a reverse-KL forward + backward at a real vocabulary, on CPU.

    nice -n 10 .venv/bin/python benchmarks/bench_kd_memory.py [--lengths 1024,2048,4096,8192]

V = 151,936 (Qwen2.5), H = 256, batch 1, float32, every position trained. Three losses, each
case in a fresh process (its peak RSS is its own), one case at a time:
- `ours`: `chunked_distillation_loss` (reverse KL; chunk gradients computed in the forward);
- `trl_chunked`: TRL 1.16's `DistillationTrainer` loss,
  `trl.trainer.distillation_trainer._chunked_divergence_loss` with beta = 1 (reverse KL);
- `naive`: full logits for both models and TRL's `GKDTrainer.generalized_jsd_loss` with
  beta = 1, capped at `--naive-max` tokens (12.6 GB were measured at 2,048 tokens).
Before each case the free memory is checked, and a case that would not fit is skipped and
said so. Prints peak RSS (GB) and seconds side by side, and ours / TRL's ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

V, H = 151_936, 256
# Rough peak per case, GB, from earlier measurements: skip a case when this is not free.
NEED_GB = {"ours": 2.0, "trl_chunked": 7.5, "naive": lambda t: 1.2 + 5.8 * t / 1024}


def _case(kind: str, t: int, vocab: int, chunk_rows: int | None = None) -> dict:
    import torch

    torch.manual_seed(0)
    hs = torch.randn(1, t, H, requires_grad=True)
    ws = (torch.randn(vocab, H) * 0.02).requires_grad_(True)
    ht = torch.randn(1, t, H)
    wt = torch.randn(vocab, H) * 0.02
    labels = torch.randint(0, vocab, (1, t))
    # imports first: loading TRL takes seconds that are not the loss's
    if kind == "ours":
        from reasoning_distill.training.chunked_loss import chunked_distillation_loss

        def run():
            return chunked_distillation_loss(
                hs, ws, ht, wt, labels, "reverse_kl", chunk_size=chunk_rows
            )
    elif kind == "trl_chunked":
        from trl.trainer.distillation_trainer import _chunked_divergence_loss

        def run():
            out = _chunked_divergence_loss(hs, ht, ws, wt, torch.ones(1, t), beta=1.0)
            return out[0] if isinstance(out, tuple) else out
    elif kind == "naive":
        from trl.experimental.gkd import GKDTrainer

        def run():
            return GKDTrainer.generalized_jsd_loss(
                hs @ ws.T, ht @ wt.T, labels=labels, beta=1.0, reduction="batchmean"
            )
    else:
        raise ValueError(kind)
    start = time.perf_counter()
    loss = run()
    loss.backward()
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"loss": float(loss), "seconds": seconds, "peak_gb": peak_kb / 1024**2}


def _free_gb() -> float:
    with open("/proc/meminfo") as f:
        info = {line.split(":")[0]: int(line.split()[1]) for line in f}
    return info["MemAvailable"] / 1024**2


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lengths", default="1024,2048,4096,8192")
    p.add_argument("--naive-max", type=int, default=2048)
    p.add_argument("--vocab", type=int, default=V, help="a smaller one for a smoke run only")
    p.add_argument("--kinds", default="ours,trl_chunked,naive")
    p.add_argument("--chunk-rows", type=int, default=None, help="ours: rows per chunk")
    p.add_argument("--child", nargs=2, metavar=("KIND", "T"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        kind, t = args.child[0], int(args.child[1])
        print(json.dumps(_case(kind, t, args.vocab, args.chunk_rows)))
        return 0
    lengths = [int(x) for x in args.lengths.split(",")]
    kinds = args.kinds.split(",")
    rows: dict[tuple[str, int], dict] = {}
    for t in lengths:
        for kind in kinds:
            if kind == "naive" and t > args.naive_max:
                continue
            need = NEED_GB[kind](t) if callable(NEED_GB[kind]) else NEED_GB[kind]
            free = _free_gb()
            if free < need + 2.0:
                print(f"skip {kind} at {t}: {free:.1f} GB free, needs about {need:.1f} GB")
                continue
            cmd = [sys.executable, __file__, "--vocab", str(args.vocab), "--child", kind, str(t)]
            if args.chunk_rows:
                cmd += ["--chunk-rows", str(args.chunk_rows)]
            env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if out.returncode != 0:
                print(f"{kind} at {t} failed ({out.returncode}): {out.stderr[-500:]}")
                continue
            rows[(kind, t)] = json.loads(out.stdout.strip().splitlines()[-1])
            r = rows[(kind, t)]
            print(f"  {kind:<12} T={t:>5}: {r['peak_gb']:.2f} GB, {r['seconds']:.1f} s, "
                  f"loss {r['loss']:.6f}", flush=True)  # fmt: skip
    print(f"\nReverse KL fwd+bwd, V={args.vocab:,}, H={H}, batch 1, fp32, CPU, fresh process each")
    header = "".join(f"{k + ' GB':>16}{k + ' s':>14}" for k in kinds)
    print(f"{'T':>6}{header}{'ours/TRL GB':>13}{'ours/TRL s':>12}")
    for t in lengths:
        line = f"{t:>6}"
        for kind in kinds:
            r = rows.get((kind, t))
            line += f"{r['peak_gb']:>16.2f}{r['seconds']:>14.1f}" if r else f"{'-':>16}{'-':>14}"
        a, b = rows.get(("ours", t)), rows.get(("trl_chunked", t))
        if a and b:
            line += f"{a['peak_gb'] / b['peak_gb']:>13.2f}{a['seconds'] / b['seconds']:>12.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
