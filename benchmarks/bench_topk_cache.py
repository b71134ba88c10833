"""Top-k teacher cache: bytes per token, and the loss error it causes, side by side.

    nice -n 10 .venv/bin/python benchmarks/bench_topk_cache.py [--teacher DIR] [--student DIR]

1. Size at DistillKit's setting (k = 128, vocabulary 151,936): our codec (ids as a sorted set,
   log-probs quantised, LZMA) at several precisions, against DistillKit's fixed-width ids
   (ceil(log2 V) = 18 bits each, 288 bytes per token before any log-prob) and its published
   figure of about 300 bytes per token. Teacher distributions are synthetic there (no
   152k-vocabulary model runs here): Zipf-like log-probs over random ids, the worst case for
   id coding, since a real model's top-k sets repeat across positions.
2. Error on the toy teacher: the cached loss (top-k + tail bucket, at each precision) against
   the full-vocabulary loss for k = 8, 32, 128 and k = V: relative error of the divergence's
   value and cosine similarity of the gradient w.r.t. the student's logits, over toy traces.
   The toy teacher is the demo's (built and cached on first use) unless --teacher is given.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def _synthetic(n: int, k: int, v: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ids = np.stack([rng.choice(v, size=k, replace=False) for _ in range(n)])
    ranks = np.arange(1, k + 1)
    # Zipf-like decay with a per-token sharpness (confident and uncertain positions)
    sharp = rng.uniform(0.8, 3.0, size=(n, 1))
    logits = -sharp * np.log(ranks) + rng.normal(0, 0.2, size=(n, k))
    lps = logits - np.log(np.exp(logits).sum(1, keepdims=True) / 0.97)  # 3% tail mass
    tail = np.full(n, np.log(0.03), dtype=np.float32)
    return ids, lps.astype(np.float32), tail


CODECS = {
    "float32 (exact)": (32, 0.1),
    "16-bit, 0.001 nats": (16, 0.001),
    "8-bit, 0.1 nats (default)": (8, 0.1),
    "6-bit, 0.25 nats": (6, 0.25),
}


def size_table(n: int = 2000) -> None:
    from reasoning_distill.training.teachers import topk_codec

    rng = np.random.default_rng(0)
    v = 151_936
    print(f"Bytes per token at V = {v:,} (synthetic teacher, {n} tokens)")
    print(f"{'k':>5} {'codec':<28} {'bytes/token':>12} {'vs DistillKit ids alone':>24}")
    for k in (8, 32, 128):
        ids, lps, tail = _synthetic(n, k, v, rng)
        fixed = k * 18 / 8
        for name, (bits, step) in CODECS.items():
            t0 = time.perf_counter()
            data = topk_codec.encode(ids, lps, tail, topk_codec.Codec(bits, step))
            per = len(data) / n
            ms = (time.perf_counter() - t0) * 1000 / n
            print(f"{k:>5} {name:<28} {per:>12.1f} {per / fixed:>23.2f}x  ({ms:.3f} ms/token)")
        print(f"{k:>5} {'DistillKit 18-bit ids only':<28} {fixed:>12.1f}")
    print(
        "DistillKit v1.0 reports about 300 bytes/token at k = 128 (16 exact); error unpublished\n"
    )


def _models(args):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if args.teacher:
        teacher_dir = args.teacher
    else:
        from reasoning_distill.toy.world import get_teacher

        teacher_dir = str(get_teacher().path)
    tok = AutoTokenizer.from_pretrained(teacher_dir)
    teacher = AutoModelForCausalLM.from_pretrained(teacher_dir).eval()
    if args.student:
        student = AutoModelForCausalLM.from_pretrained(args.student).eval()
    else:
        from reasoning_distill.toy.models import STUDENT_ARCH, init_model

        student = init_model(tok, STUDENT_ARCH, seed=0).eval()
    return tok, teacher, student


def error_table(args) -> None:
    from reasoning_distill.toy.tasks import make_traces
    from reasoning_distill.training.losses import (
        distillation_loss,
        shift_labels,
        topk_distillation_loss,
    )
    from reasoning_distill.training.teachers import topk_codec
    from reasoning_distill.training.teachers.cache import tokenize_messages
    from reasoning_distill.training.teachers.local import topk_from_logits

    tok, teacher, student = _models(args)
    traces = make_traces("math", "heldout", args.rows, seed=0)
    seqs = [tokenize_messages(tok, t.messages(), None) for t in traces]
    v = teacher.config.vocab_size
    print(f"Loss error on the toy teacher (V = {v}, {len(seqs)} toy traces, student: "
          f"{args.student or 'untrained init'})")  # fmt: skip
    print(f"{'divergence':<12} {'k':>5} {'codec':<28} {'rel. value error':>17} {'grad cosine':>12}")
    for divergence in ("reverse_kl", "forward_kl"):
        for k in (8, 32, 128, v):
            for name, (bits, step) in CODECS.items():
                if k == v and bits != 32:
                    continue
                errs, coss = [], []
                for ids, pos in seqs:
                    x = torch.tensor([ids])
                    labels = torch.full_like(x, -100)
                    labels[0, [p + 1 for p in pos]] = x[0, [p + 1 for p in pos]]
                    target = shift_labels(labels)
                    with torch.no_grad():
                        t_logits = teacher(input_ids=x).logits
                        s_logits = student(input_ids=x).logits
                    top = topk_from_logits(t_logits[0], k)
                    codec = topk_codec.Codec(bits, step)
                    c_ids, c_lps, c_tail = topk_codec.decode(
                        topk_codec.encode(top.ids, top.logprobs, top.tail, codec),
                        len(top), top.k, codec,
                    )  # fmt: skip
                    a = s_logits.clone().requires_grad_(True)
                    b = s_logits.clone().requires_grad_(True)
                    full = distillation_loss(a, t_logits, target, divergence)
                    cached = topk_distillation_loss(
                        b, torch.from_numpy(c_ids)[None], torch.from_numpy(c_lps)[None],
                        torch.from_numpy(c_tail)[None], target, divergence,
                    )  # fmt: skip
                    full.backward()
                    cached.backward()
                    errs.append(abs(cached.item() - full.item()) / max(full.item(), 1e-12))
                    coss.append(
                        torch.nn.functional.cosine_similarity(
                            a.grad.flatten(), b.grad.flatten(), dim=0
                        ).item()
                    )
                kk = "V" if k == v else str(k)
                print(f"{divergence:<12} {kk:>5} {name:<28} {np.mean(errs):>17.2e} "
                      f"{np.mean(coss):>12.6f}")  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--teacher", default=None, help="teacher folder (default: the toy teacher)")
    p.add_argument("--student", default=None, help="student folder (default: an untrained one)")
    p.add_argument("--rows", type=int, default=32, help="toy traces to measure the error over")
    p.add_argument("--skip-size", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    if not args.skip_size:
        size_table()
    error_table(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
