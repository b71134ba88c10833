"""Padded against packed against padding-free SFT batches on heavy-tailed trace lengths.

What it measures, on token rows whose lengths follow a log-normal like R1 reasoning traces
(median `--median` tokens, a long tail clipped at `--max-len`, 16k by default), through our
SFT stage's own trainer and TRL's collators, same model and same rows:

- the share of real (non-pad) tokens in the batches the trainer builds: padded (each batch
  padded to its longest row), packed (TRL's best-fit-decreasing packing into rows of
  `--max-len`, flattened padding-free) and padding-free without packing; for packing also how
  full the packed rows are (real tokens / rows x max_len). Aim: more than 95% real.
- real tokens per second of a few optimiser steps of a tiny Qwen2 (SDPA), on the same
  distribution scaled down to `--time-max-len` so that it runs on a CPU. On a CPU the
  padding-free attention is a block-diagonal mask over the whole flattened batch; on a GPU
  flash-attention's variable-length kernel makes it linear in the rows.

    .venv/bin/python benchmarks/bench_packing.py [--rows 2000] [--max-len 16384] [--steps 4]
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path


def lognormal_lengths(n: int, median: int, sigma: float, lo: int, hi: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [max(lo, min(hi, int(math.exp(rng.gauss(math.log(median), sigma))))) for _ in range(n)]


def token_rows(lengths: list[int], vocab: int, seed: int) -> list[dict]:
    """Pre-tokenised rows (TRL skips tokenisation for an `input_ids` column): a short prompt,
    then a completion that is trained."""
    rng = random.Random(seed)
    rows = []
    for n in lengths:
        ids = [rng.randrange(10, vocab) for _ in range(n)]
        prompt = min(32, n // 4)
        rows.append({"input_ids": ids, "completion_mask": [0] * prompt + [1] * (n - prompt)})
    return rows


VARIANTS = {
    "padded": {"packing": False, "padding_free": False},
    "packed (bfd, padding-free)": {"packing": True},
    "padding-free, no packing": {"packing": False, "padding_free": True, "max_length": None},
}


def make_trainer(model, tokenizer, dataset, out: Path, batch: int, max_len: int, steps: int, **kw):
    from reasoning_distill.training.sft_config import StudentSFTConfig
    from reasoning_distill.training.sft_trainer import StudentSFTTrainer, build_trainer

    options = {"max_length": max_len, **kw}
    config = StudentSFTConfig(
        max_steps=steps,
        per_device_train_batch_size=batch,
        assistant_only_loss=False,
        completion_only_loss=True,
        logging_steps=1,
        save_strategy="no",
        skip_check=True,
        train_sampling_strategy="sequential",
        **options,
    )
    return build_trainer(StudentSFTTrainer, model, tokenizer, dataset, out, config)


def batch_shares(trainer, max_len: int, packed: bool) -> tuple[float, float, int]:
    """(real-token share, packed-row fill or nan, real tokens) over the trainer's batches."""
    real = total = 0
    for batch in trainer.get_train_dataloader():
        ids = batch["input_ids"]
        if "attention_mask" in batch:
            real += int(batch["attention_mask"].sum())
        else:  # padding-free: one flattened row, no pads
            real += int(ids.numel())
        total += int(ids.numel())
    fill = math.nan
    if packed:
        packed_rows = trainer.train_dataset["input_ids"]
        fill = sum(len(r) for r in packed_rows) / (len(packed_rows) * max_len)
    return real / total, fill, real


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--median", type=int, default=3000)
    p.add_argument("--sigma", type=float, default=0.8)
    p.add_argument("--max-len", type=int, default=16384)
    p.add_argument("--batch", type=int, default=8, help="rows (padded) or packed rows per step")
    p.add_argument("--time-max-len", type=int, default=1024)
    p.add_argument("--time-rows", type=int, default=96)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    import torch
    from datasets import Dataset

    from reasoning_distill.toy.models import Arch, init_model
    from reasoning_distill.toy.tokenizer import train_tokenizer
    from reasoning_distill.training.data import quiet_progress

    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    tokenizer = train_tokenizer(["a b c d e f g h 0 1 2 3 4 5 6 7 8 9"] * 10, vocab_size=300)
    vocab = len(tokenizer)
    tmp = Path(tempfile.mkdtemp(prefix="bench_packing_"))

    def model(max_len: int):
        arch = Arch(hidden_size=64, num_hidden_layers=2, max_position_embeddings=max_len)
        m = init_model(tokenizer, arch, seed=0)
        m.config._attn_implementation = "sdpa"
        return m

    lengths = lognormal_lengths(args.rows, args.median, args.sigma, 64, args.max_len, seed=0)
    ordered = sorted(lengths)
    print(
        f"{args.rows} rows, log-normal lengths: median {ordered[len(ordered) // 2]}, "
        f"p90 {ordered[int(0.9 * len(ordered))]}, p99 {ordered[int(0.99 * len(ordered))]}, "
        f"max {ordered[-1]} (clipped at {args.max_len}); batch {args.batch}"
    )
    full = Dataset.from_list(token_rows(lengths, vocab, seed=1))
    scale = args.time_max_len / args.max_len
    small_lengths = [
        max(16, int(n * scale)) for n in lognormal_lengths(args.time_rows, args.median, args.sigma, 64, args.max_len, 2)
    ]  # fmt: skip
    small = Dataset.from_list(token_rows(small_lengths, vocab, seed=3))

    print(f"{'variant':<28}{'real tokens':>12}{'packed fill':>13}{'tokens/s':>10}{'ratio':>7}")
    results = {}
    with quiet_progress(True):
        for name, options in VARIANTS.items():
            packed = bool(options.get("packing"))
            share_trainer = make_trainer(
                model(args.max_len), tokenizer, full, tmp / name, args.batch, args.max_len,
                args.steps, **options,
            )  # fmt: skip
            share, fill, _ = batch_shares(share_trainer, args.max_len, packed)
            del share_trainer
            speeds = []
            for r in range(2):
                trainer = make_trainer(
                    model(args.time_max_len), tokenizer, small, tmp / f"{name}{r}",
                    args.batch, args.time_max_len, args.steps, **options,
                )  # fmt: skip
                t0 = time.perf_counter()
                trainer.train()
                wall = time.perf_counter() - t0
                speeds.append(trainer._total_train_tokens / wall)
            results[name] = (share, fill, statistics.median(speeds))
    base = results["padded"][2]
    for name, (share, fill, speed) in results.items():
        fill_s = "-" if math.isnan(fill) else f"{fill:.1%}"
        print(f"{name:<28}{share:>12.1%}{fill_s:>13}{speed:>10.0f}{speed / base:>7.2f}")
    print(
        f"tokens/s: {args.steps} steps, lengths scaled to {args.time_max_len} "
        f"({args.time_rows} rows), tiny Qwen2 (hidden 64, 2 layers, SDPA), {args.threads} thread(s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
