"""Evaluation overheads, measured side by side in one run on the toy world.

1. Scoring throughput: samples scored per second by `verify_samples` (the eval's verifier),
   math (toy_math golds, half the completions right) and code (toy_code, the gold programs
   and a wrong variant, run in the sandbox).
2. A cold evaluation of a tiny untrained model on toy_math + toy_code: total wall time, the
   time inside the engine's generate calls, and the share spent outside generation
   (verification, scoring, maj@k grouping, manifest, writing).
3. The same evaluation again with a changed scorer (re-scores every stored sample, generates
   nothing), and once more unchanged (everything cached): each against the cold run.

  python benchmarks/bench_eval.py [--problems 20] [--n 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


class TimedEngine:
    """Wraps an engine and adds up the wall time of its generate calls."""

    def __init__(self, inner):
        self.inner = inner
        self.name, self.model, self.tokenizer = inner.name, inner.model, inner.tokenizer
        self.seconds = 0.0
        self.samples = 0

    def generate(self, requests, params, progress=None):
        t = time.perf_counter()
        try:
            return self.inner.generate(requests, params)
        finally:
            self.seconds += time.perf_counter() - t
            self.samples += sum(len(r.indices(params.n)) for r in requests)

    def close(self) -> None:
        pass


def _samples(problems, completions):
    from reasoning_distill.records import Sample

    return [
        Sample(
            p.id,
            i,
            0,
            p.prompt,
            [],
            c,
            None,
            c,
            "stop",
            0,
            len(c) // 4,
            "bench",
            "bench",
            {},
            think_closed=True,
            gold=p.gold,
            kind=p.kind,
        )  # fmt: skip
        for i, (p, c) in enumerate(zip(problems, completions, strict=True))
    ]


def _wrong(completion: str) -> str:
    tail = completion.rsplit("</think>", 1)[1]
    return tail.translate(str.maketrans("0123456789", "1234567890"))


def scoring_throughput(n_math: int, n_code: int, workers: int) -> dict[str, float]:
    from reasoning_distill.toy.tasks import make_traces
    from reasoning_distill.verification import verify_samples

    out = {}
    for kind, n in (("math", n_math), ("code", n_code)):
        traces = make_traces(kind, "heldout", min(n, 300 if kind == "math" else 100), seed=0)
        traces = (traces * (n // len(traces) + 1))[:n]
        problems = [t.problem for t in traces]
        right = [t.assistant() for t in traces]
        # Every other completion wrong: its final answer or program has its digits changed.
        completions = [
            c if i % 2 == 0 else c.rsplit("</think>", 1)[0] + "</think>" + _wrong(c)
            for i, c in enumerate(right)
        ]
        samples = _samples(problems, completions)
        verify_samples(samples[:4], workers=workers)  # warm the worker pools
        t = time.perf_counter()
        verdicts = verify_samples(samples, workers=workers)
        elapsed = time.perf_counter() - t
        out[kind] = len(verdicts) / elapsed
        out[f"{kind}_correct_share"] = sum(v.correct for v in verdicts) / len(verdicts)
    return out


def eval_overheads(problems: int, n: int, workers: int) -> dict[str, float]:
    from reasoning_distill.eval import evaluate as ev
    from reasoning_distill.eval.benchmarks import load_benchmark

    from reasoning_distill.generation.engine import SamplingParams
    from reasoning_distill.generation.hf_engine import HFEngine
    from reasoning_distill.toy.models import make_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        model = make_tiny_model(Path(tmp) / "m", ["The answer is \\boxed{4}. <think></think>"] * 20)
        inner = HFEngine(str(model), batch_size=64)
        benches = {
            "toy_math": load_benchmark("toy_math", limit=problems),
            "toy_code": load_benchmark("toy_code", limit=max(1, problems // 2)),
        }
        protocol = ev.EvalProtocol(SamplingParams(n=n, seed=1))
        out = Path(tmp) / "eval"
        runs = {}
        for label in ("cold", "rescore", "cached"):
            if label == "rescore":
                ev.SCORING_VERSION += 1
            engine = TimedEngine(inner)
            t = time.perf_counter()
            ev.evaluate_model(engine, benches, protocol, out, workers=workers)
            runs[label] = (time.perf_counter() - t, engine.seconds, engine.samples)
        inner.close()
    cold_total, cold_gen, cold_samples = runs["cold"]
    return {
        "samples": cold_samples,
        "cold_s": cold_total,
        "cold_generate_s": cold_gen,
        "outside_generation_share": 1 - cold_gen / cold_total,
        "rescore_s": runs["rescore"][0],
        "rescore_generated": runs["rescore"][2],
        "cached_s": runs["cached"][0],
        "cached_generated": runs["cached"][2],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--problems", type=int, default=20, help="toy_math problems (toy_code: half)")
    p.add_argument("--n", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--score-math", type=int, default=600)
    p.add_argument("--score-code", type=int, default=60)
    args = p.parse_args()

    s = scoring_throughput(args.score_math, args.score_code, args.workers)
    e = eval_overheads(args.problems, args.n, args.workers)
    print("scoring throughput (verify_samples, warm workers)")
    print(f"  math: {s['math']:8.1f} samples/s  ({s['math_correct_share']:.0%} judged correct)")
    print(f"  code: {s['code']:8.1f} samples/s  ({s['code_correct_share']:.0%} judged correct)")
    print(f"toy eval, tiny model, {e['samples']} samples (toy_math + toy_code)")
    print(f"  cold:             {e['cold_s']:7.2f} s  (generate {e['cold_generate_s']:.2f} s)")
    print(f"  outside generation: {e['outside_generation_share']:.1%} of the cold run")
    print(
        f"  changed scorer:   {e['rescore_s']:7.2f} s  ({e['rescore_generated']} generated)  "
        f"cold / this = {e['cold_s'] / e['rescore_s']:.0f}x"
    )
    print(
        f"  unchanged rerun:  {e['cached_s']:7.2f} s  ({e['cached_generated']} generated)  "
        f"cold / this = {e['cold_s'] / e['cached_s']:.0f}x"
    )


if __name__ == "__main__":
    main()
