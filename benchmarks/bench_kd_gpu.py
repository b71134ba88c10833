"""Reverse-KL step at 16k context on one GPU: peak memory of the chunked loss, random weights.

    python benchmarks/bench_kd_gpu.py [--lengths 4096,16384] [--chunk-size 1024]

Shapes of a 1.5B student (Qwen2.5-1.5B: hidden 1,536) and a 7B teacher (hidden 3,584), one
vocabulary of 151,936 rows, bf16 hidden states and heads, batch 1, every position trained.
For each length: forward + backward of `chunked_distillation_loss` (reverse KL) from the
hidden states, gradients into the student's hidden states and head; the peak CUDA memory
above the inputs' own, and the time. The full logits alone would be 2 x 16,384 x 151,936
float32 values (19.9 GB) before any intermediate. TRL 1.16's chunked loss is measured too
when TRL is importable. Prints one table; exits 0 without a GPU (nothing to measure).
"""

from __future__ import annotations

import argparse
import time

V, H_STUDENT, H_TEACHER = 151_936, 1536, 3584


def _measure(fn, torch) -> tuple[float, float]:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 1024**3, time.perf_counter() - start


def main() -> int:
    import torch

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lengths", default="4096,16384")
    p.add_argument("--chunk-size", type=int, default=1024)
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("bench_kd_gpu: no CUDA device, nothing measured")
        return 0
    from reasoning_distill.training.chunked_loss import chunked_distillation_loss

    try:
        from trl.trainer.distillation_trainer import _chunked_divergence_loss as trl_loss
    except ImportError:  # the GPU machine may lack TRL: measure ours alone
        trl_loss = None
    dev = "cuda"
    g = torch.Generator(device=dev).manual_seed(0)
    ws = (torch.randn(V, H_STUDENT, device=dev, generator=g) * 0.02).bfloat16().requires_grad_()
    wt = (torch.randn(V, H_TEACHER, device=dev, generator=g) * 0.02).bfloat16()
    print(f"reverse KL fwd+bwd, V={V:,}, student H={H_STUDENT}, teacher H={H_TEACHER}, bf16 inputs")
    print(f"{'T':>7} {'loss':<14} {'peak GB (above inputs)':>24} {'seconds':>9}")
    for t in (int(x) for x in args.lengths.split(",")):
        hs = torch.randn(1, t, H_STUDENT, device=dev, generator=g).bfloat16().requires_grad_()
        ht = torch.randn(1, t, H_TEACHER, device=dev, generator=g).bfloat16()
        labels = torch.randint(0, V, (1, t), device=dev, generator=g)

        def ours(hs=hs, ht=ht, labels=labels):
            chunked_distillation_loss(
                hs, ws, ht, wt, labels, "reverse_kl", chunk_size=args.chunk_size
            ).backward()

        _measure(ours, torch)  # warm-up (cuBLAS handles, allocator)
        gb, s = _measure(ours, torch)
        print(f"{t:>7} {'ours':<14} {gb:>24.2f} {s:>9.2f}", flush=True)
        if trl_loss is not None:

            def trl(hs=hs, ht=ht, mask=torch.ones(1, t, device=dev)):
                out = trl_loss(hs, ht, ws, wt, mask, beta=1.0)
                (out[0] if isinstance(out, tuple) else out).backward()

            try:
                gb, s = _measure(trl, torch)
                print(f"{t:>7} {'trl_chunked':<14} {gb:>24.2f} {s:>9.2f}", flush=True)
            except torch.OutOfMemoryError:
                print(f"{t:>7} {'trl_chunked':<14} {'out of memory':>24}")
        del hs, ht
        ws.grad = None
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
