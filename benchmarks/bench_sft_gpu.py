"""SFT tokens/s and MFU of our stage for a Qwen2.5-1.5B-shaped student on one GPU.

What it measures: optimiser steps of `StudentSFTTrainer` (as `train_sft` builds it) on a
Qwen2.5-1.5B-shaped Qwen2 with random weights built from its config (no download), on
pre-tokenised rows with log-normal lengths packed (TRL's best-fit decreasing, padding-free)
into rows of `--max-length` (8k), bf16, gradient checkpointing, Liger kernels when
installed, flash-attention when installed (else SDPA). After `--warmup` steps it times
`--steps` steps and reports real tokens/s and MFU: model FLOPs (6 x parameters per token,
plus 6 x layers x hidden x n^2 of causal attention per sequence of n tokens; the recompute of
gradient checkpointing not counted) over the GPU's dense bf16 peak.

    python benchmarks/bench_sft_gpu.py --json OUT.json            # on the GPU (gpu_check.sh)
    python benchmarks/bench_sft_gpu.py --size tiny --device cpu   # a CPU rehearsal of the code
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import random
import sys
import tempfile
import time
from pathlib import Path

SHAPES = {
    # Qwen2.5-1.5B's config.json
    "qwen2.5-1.5b": dict(
        hidden_size=1536,
        intermediate_size=8960,
        num_hidden_layers=28,
        num_attention_heads=12,
        num_key_value_heads=2,
        vocab_size=151936,
        rope_theta=1_000_000.0,
        tie_word_embeddings=True,
    ),
    "tiny": dict(
        hidden_size=64,
        intermediate_size=192,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=1024,
        tie_word_embeddings=True,
    ),
}
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "H800": 989e12, "A100": 312e12, "L40S": 362e12}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=sorted(SHAPES), default="qwen2.5-1.5b")
    p.add_argument("--device", default="cuda")
    p.add_argument("--max-length", type=int, default=8192)
    p.add_argument("--batch", type=int, default=2, help="packed rows per step")
    p.add_argument("--rows", type=int, default=400)
    p.add_argument("--median", type=int, default=3000)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    import torch
    from datasets import Dataset
    from transformers import Qwen2Config, Qwen2ForCausalLM, TrainerCallback

    from reasoning_distill.toy.tokenizer import train_tokenizer
    from reasoning_distill.training.data import quiet_progress
    from reasoning_distill.training.sft_config import StudentSFTConfig
    from reasoning_distill.training.sft_trainer import StudentSFTTrainer, build_trainer

    logging.basicConfig(level=logging.WARNING)
    cuda = args.device == "cuda"
    liger = cuda and importlib.util.find_spec("liger_kernel") is not None
    flash = cuda and importlib.util.find_spec("flash_attn") is not None
    attn = "flash_attention_2" if flash else "sdpa"
    shape = SHAPES[args.size]
    config = Qwen2Config(
        **shape, max_position_embeddings=max(32768, args.max_length), attn_implementation=attn
    )
    torch.manual_seed(0)
    with torch.device(args.device):
        model = Qwen2ForCausalLM(config).to(torch.bfloat16 if cuda else torch.float32)
    n_params = sum(p.numel() for p in model.parameters())
    # A tokenizer for the collator's pad id only: the rows are token ids already.
    tokenizer = train_tokenizer(["0 1 2 3 4 5 6 7 8 9 a b c"] * 4, vocab_size=300)

    rng = random.Random(0)
    rows = []
    for _ in range(args.rows):
        n = max(64, min(args.max_length, int(math.exp(rng.gauss(math.log(args.median), 0.8)))))
        ids = [rng.randrange(10, shape["vocab_size"]) for _ in range(n)]
        rows.append({"input_ids": ids, "completion_mask": [0] * 32 + [1] * (n - 32)})
    dataset = Dataset.from_list(rows)

    timing: dict[str, float] = {}

    class Clock(TrainerCallback):
        def on_step_end(self, args_, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            if state.global_step == args.warmup:
                timing["t0"], timing["tok0"] = time.perf_counter(), trainer._total_train_tokens
            if state.global_step == args.warmup + args.steps:
                timing["t1"], timing["tok1"] = time.perf_counter(), trainer._total_train_tokens

    cfg = StudentSFTConfig(
        output_dir=tempfile.mkdtemp(prefix="bench_sft_gpu_"),
        max_steps=args.warmup + args.steps,
        per_device_train_batch_size=args.batch,
        learning_rate=1e-5,
        assistant_only_loss=False,
        completion_only_loss=True,
        packing=True,
        max_length=args.max_length,
        bf16=cuda,
        gradient_checkpointing=True,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        use_liger_kernel=liger,
        logging_steps=1,
        save_strategy="no",
        skip_check=True,
        train_sampling_strategy="sequential",
        use_cpu=not cuda,
    )
    with quiet_progress(True):
        trainer = build_trainer(
            StudentSFTTrainer, model, tokenizer, dataset, Path(cfg.output_dir), cfg
        )
        trainer.add_callback(Clock())
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        trainer.train()
    # attention FLOPs follow the packed sequences' own lengths (padding-free: no cross-row work)
    seq_lens = [len(r) for r in rows]
    mean_sq = sum(n * n for n in seq_lens) / sum(seq_lens)
    wall = timing["t1"] - timing["t0"]
    tokens = timing["tok1"] - timing["tok0"]
    tok_s = tokens / wall
    layers, hidden = shape["num_hidden_layers"], shape["hidden_size"]
    flops_per_token = 6 * n_params + 6 * layers * hidden * mean_sq
    achieved = tok_s * flops_per_token
    name = torch.cuda.get_device_name(0) if cuda else "cpu"
    peak = next((v for k, v in PEAK_BF16.items() if k in name), None)
    result = {
        "model": args.size,
        "params": n_params,
        "device": name,
        "max_length": args.max_length,
        "packed_rows_per_step": args.batch,
        "attn": attn,
        "liger": liger,
        "gradient_checkpointing": True,
        "bf16": cuda,
        "steps_timed": args.steps,
        "tokens_per_s": tok_s,
        "tflops": achieved / 1e12,
        "mfu": achieved / peak if peak else None,
        "peak_memory_gb": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
    }
    mfu = f"{result['mfu']:.1%}" if result["mfu"] is not None else "n/a (unknown peak)"
    print(
        f"SFT {args.size} ({n_params / 1e9:.2f}B) on {name}: {tok_s:,.0f} tokens/s, "
        f"{result['tflops']:.0f} TFLOP/s, MFU {mfu}; {args.max_length} packed x {args.batch}, "
        f"{attn}, liger {liger}, bf16 {cuda}, grad checkpointing"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
