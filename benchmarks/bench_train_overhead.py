"""Per-step cost of our SFT stage against plain `trl.SFTTrainer` and a minimal torch loop.

What it measures: wall and CPU time per optimiser step of `trainer.train()` as `train_sft`
builds it (our `StudentSFTTrainer`, full-logits loss at this vocabulary size, or TRL's fused
head), of a plain `trl.SFTTrainer` with the same settings on the same data and weights, and of
a plain loop (forward with labels, backward, clip, AdamW, linear LR) over the very same
collated batches from the very same initial weights. Setup (dataset tokenisation, trainer
construction) is reported separately. The demo's shape by default: the student architecture
(hidden 64, 3 layers), batch 32, ~60-100-token sequences, one torch thread (as when two
trainings share two cores). Variants are interleaved over several rounds so that background
load on a shared machine hits all of them alike; the median per round is printed.

.venv/bin/python benchmarks/bench_train_overhead.py [--steps 40] [--rounds 3]

Ratios are against plain `trl.SFTTrainer`.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "training"))

from arithmetic import arithmetic_messages  # noqa: E402  (the training tests' rows)


def plain_loop(model, batches, steps: int, lr: float) -> tuple[float, float]:
    """A minimal torch training loop; returns (wall, CPU) seconds per step."""
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / steps))
    model.train()
    start, cpu_start = time.perf_counter(), time.process_time()
    for step in range(steps):
        batch = batches[step % len(batches)]
        out = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            labels=batch["labels"],
            use_cache=False,
        )
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if step % 10 == 0:
            out.loss.item()  # the Trainer also syncs on the loss when it logs
    return (time.perf_counter() - start) / steps, (time.process_time() - cpu_start) / steps


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    import torch
    from datasets import Dataset

    from reasoning_distill.toy.models import STUDENT_ARCH, init_model
    from reasoning_distill.toy.tokenizer import train_tokenizer
    from reasoning_distill.training.data import quiet_progress
    from reasoning_distill.training.sft_config import StudentSFTConfig
    from reasoning_distill.training.sft_trainer import StudentSFTTrainer, build_trainer

    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    rows = arithmetic_messages(512, seed=0, terms=4)
    texts = [m["content"] for r in rows for m in r["messages"]]
    tokenizer = train_tokenizer(texts, vocab_size=320)
    dataset = Dataset.from_list(rows)
    base = init_model(tokenizer, STUDENT_ARCH, seed=0)
    state = {k: v.clone() for k, v in base.state_dict().items()}
    n_params = sum(p.numel() for p in base.parameters())

    def fresh():
        m = init_model(tokenizer, STUDENT_ARCH, seed=0)
        m.load_state_dict(state)
        return m

    same = dict(
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        logging_steps=10,
        save_strategy="no",
    )
    config = StudentSFTConfig(**same, skip_check=True)
    # What ours sets apart from TRL's defaults, given to plain TRL by hand as a user would.
    ours = ("learning_rate", "assistant_only_loss", "bf16", "gradient_checkpointing",
            "report_to", "disable_tqdm", "dataloader_num_workers", "dataloader_pin_memory")  # fmt: skip
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    def plain_trl(out: Path):
        """`trl.SFTTrainer` as a user would write it, with the same settings."""
        cfg = SFTConfig(output_dir=str(out), **same, **{k: getattr(config, k) for k in ours})
        trainer = SFTTrainer(
            model=fresh(), args=cfg, train_dataset=dataset, processing_class=tokenizer
        )
        trainer.remove_callback(PrinterCallback)
        return trainer

    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))

    # "train_sft trainer": what train_sft runs (full-logits loss at this vocabulary size);
    # "TRL fused LM head": the same with TRL's own chunked loss (fused_lm_head=True).
    configs = {
        "train_sft trainer": config,
        "TRL fused LM head": replace(config, fused_lm_head=True),
    }
    variants: dict[str, list[float]] = {
        "plain torch loop": [],
        "plain trl.SFTTrainer": [],
        **{k: [] for k in configs},
    }
    cpu_variants: dict[str, list[float]] = {k: [] for k in variants}
    setup_s: list[float] = []
    batches = None
    seq_lens: list[int] = []
    with quiet_progress(True):
        for r in range(args.rounds):
            for name, cfg in configs.items():
                t0 = time.perf_counter()
                trainer = build_trainer(
                    StudentSFTTrainer, fresh(), tokenizer, dataset, tmp / f"{name}{r}", cfg
                )
                setup_s.append(time.perf_counter() - t0)
                if batches is None:
                    batches = list(trainer.get_train_dataloader())
                    seq_lens = [int(b["input_ids"].shape[1]) for b in batches]
                t0, c0 = time.perf_counter(), time.process_time()
                trainer.train()
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                variants[name].append(wall / args.steps)
                cpu_variants[name].append(cpu / args.steps)
            trainer = plain_trl(tmp / f"trl{r}")
            t0, c0 = time.perf_counter(), time.process_time()
            trainer.train()
            variants["plain trl.SFTTrainer"].append((time.perf_counter() - t0) / args.steps)
            cpu_variants["plain trl.SFTTrainer"].append((time.process_time() - c0) / args.steps)
            wall, cpu = plain_loop(fresh(), batches, args.steps, config.learning_rate)
            variants["plain torch loop"].append(wall)
            cpu_variants["plain torch loop"].append(cpu)

    # ratios against plain trl.SFTTrainer: what a user of `trl sft` would otherwise run
    plain = statistics.median(variants["plain trl.SFTTrainer"])
    plain_cpu = statistics.median(cpu_variants["plain trl.SFTTrainer"])
    print(
        f"model {n_params / 1e6:.2f}M params (hidden {STUDENT_ARCH.hidden_size}, "
        f"{STUDENT_ARCH.num_hidden_layers} layers), vocab {len(tokenizer)}, batch {args.batch_size}, "
        f"padded seq len {min(seq_lens)}-{max(seq_lens)}, threads {args.threads}, "
        f"{args.steps} steps x {args.rounds} rounds"
    )
    # CPU time of this (one-thread) process is what other load on a shared machine disturbs
    # least; wall time is what a user waits for.
    print(
        f"{'variant':<22}{'wall ms/step':>14}{'ratio':>7}{'CPU ms/step':>13}{'ratio':>7}   wall per round"
    )
    for name, vals in variants.items():
        med, cpu = statistics.median(vals), statistics.median(cpu_variants[name])
        rounds = " ".join(f"{v * 1e3:.1f}" for v in vals)
        print(
            f"{name:<22}{med * 1e3:>14.1f}{med / plain:>7.2f}{cpu * 1e3:>13.1f}"
            f"{cpu / plain_cpu:>7.2f}   {rounds}"
        )
    print(f"trainer setup (tokenise + build + mask check): {statistics.median(setup_s):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
