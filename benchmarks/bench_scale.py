"""Scale after generation: time and peak RSS of verify, build and eval scoring per store size.

Makes synthetic generation stores with the project's own `Store` (4 traces per problem,
about `--trace-kb` KB of reasoning each, 70% right, boxed answers), then runs each stage in
its own subprocess and reads its peak RSS two ways, in a wrapper process: the largest
process's (`resource.getrusage(RUSAGE_CHILDREN)`), and the whole process tree's (worker
processes included), summed from /proc every 0.1 s:

- verify: `rdistill verify --samples DIR` (through the CLI only);
- build: `rdistill build --samples DIR --out OUT` (selection, card, streaming write);
- eval scoring: eval's own scoring path once the samples exist (`eval.evaluate`'s
  `stored_rows`, `verify_rows`, which verifies with eval's verifier configuration into the
  store's `verdicts-<version>.jsonl`, `scored_records`, `scoring.benchmark_metrics`, then
  `results.json` written).

Prints one row per stage and size, then the growth per 4x (time should be about 4x, memory
about 1x). Math verification throughput is compared with a serial loop of plain math-verify
over the same completions in the same run, as `bench_verify_math.py` does.

  python benchmarks/bench_scale.py                        # 10k, 40k, 160k traces
  python benchmarks/bench_scale.py --sizes 1k,4k --keep   # a quick run, stores kept
  python benchmarks/bench_scale.py --dedupe 1m            # dedupe + decontam memory, 1M problems
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PER_PROBLEM = 4
RIGHT = 0.7
CHILD = "--_child"


def _size(text: str) -> int:
    text = text.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * mult)


def make_store(folder: Path, traces: int, trace_kb: float, seed: int = 0) -> int:
    """A generation store of `traces` samples (4 per problem); returns its size in bytes."""
    from reasoning_distill.generation.store import Store
    from reasoning_distill.records import Sample

    rng = random.Random(seed)
    words = [
        "so",
        "we",
        "add",
        "the",
        "terms",
        "then",
        "divide",
        "by",
        "two",
        "and",
        "check",
        "the",
        "remainder",
        "again",
    ]
    filler = " ".join(rng.choice(words) for _ in range(int(trace_kb * 1024 / 5)))
    identity = {"model": "synthetic", "engine": "none", "n": PER_PROBLEM}
    with Store.open(folder, identity) as store:
        batch = []
        for t in range(traces):
            pid, i = f"q{t // PER_PROBLEM:07d}", t % PER_PROBLEM
            gold = str(t // PER_PROBLEM % 997 + 3)
            answer = gold if rng.random() < RIGHT else str(int(gold) + 1)
            reasoning = f"Step {t}: {filler}"
            batch.append(
                Sample(
                    problem_id=pid, sample_index=i, seed=i, prompt=f"What is {gold}?",
                    messages=[{"role": "user", "content": f"What is {gold}? Box it."}],
                    completion=f"<think>\n{reasoning}\n</think>\n\nSo $\\boxed{{{answer}}}$.",
                    reasoning=reasoning, answer=f"So $\\boxed{{{answer}}}$.",
                    finish_reason="stop", prompt_tokens=12,
                    completion_tokens=len(reasoning) // 4 + rng.randint(0, 50),
                    engine="none", model="synthetic", sampling={"n": PER_PROBLEM},
                    kind="math", gold=gold, meta={"source": "synthetic"},
                )
            )  # fmt: skip
            if len(batch) == 500:
                store.append(batch)
                batch = []
        store.append(batch)
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def eval_scoring(folder: str) -> None:
    """Eval's own scoring of a store, as `rdistill eval` runs it once the samples exist: the
    stored samples' small records, their verdicts (made and stored by eval's verifier
    configuration, then read back), the per-problem records and the metrics."""
    from reasoning_distill.eval.evaluate import (
        BenchmarkRun,
        EvalProtocol,
        json_default,
        scored_records,
        stored_rows,
        verifier_config,
        verify_rows,
    )
    from reasoning_distill.eval.scoring import benchmark_metrics, math_equivalence

    from reasoning_distill.atomic import atomic_write_json
    from reasoning_distill.generation.store import Store
    from reasoning_distill.records import Problem

    protocol = EvalProtocol()
    golds: dict[str, str] = {}
    for s in Store(folder).read():  # the benchmark's problems (one small record each)
        golds.setdefault(s.problem_id, s.gold)
    ids = sorted(golds)
    problems = [Problem(i, f"What is {golds[i]}?", golds[i], "math", "synthetic") for i in ids]
    del golds
    run = BenchmarkRun("synthetic", problems, 4096)
    rows = stored_rows(run, Path(folder), ids, PER_PROBLEM)
    verdicts = verify_rows(
        run, Path(folder), rows, verifier_config(), protocol.verify_options, None, None, None
    )
    records = scored_records(run, rows, verdicts)
    metrics, _ = benchmark_metrics("synthetic", "math", records, PER_PROBLEM, math_equivalence(1))
    with tempfile.TemporaryDirectory() as out:  # results.json, as `evaluate_model` writes it
        envelope = {"benchmarks": {"synthetic": {"metrics": metrics, "problems": records}}}
        atomic_write_json(
            Path(out) / "results.json", envelope, allow_nan=False, default=json_default
        )
    print(json.dumps({"pass@1": metrics.get("pass@1", {}).get("value")}))


def dedupe_memory(problems: int) -> None:
    """Peak RSS of dedupe (exact and MinHash) and decontamination matching over `problems`
    synthetic problem texts: the texts themselves, then the peak beyond them."""
    from reasoning_distill.data_recipes.decontam import build_index, match_texts
    from reasoning_distill.data_recipes.dedupe import dedupe

    def rss_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    texts = [
        f"Problem {i}: a train leaves station {i % 977} at {i % 61} km/h and another at "
        f"{i % 89} km/h; how far apart are they after {i % 13} hours and {i // 7} minutes?"
        for i in range(problems)
    ]
    base = rss_mb()
    t0 = time.perf_counter()
    kept = dedupe(texts).keep
    t_dedupe, after_dedupe = time.perf_counter() - t0, rss_mb()
    bench = [(f"b{i}", f"Benchmark problem {i}: what is the sum of {i} and {i * 3} apples "
              f"given to {i % 7} friends on day {i}?") for i in range(500)]  # fmt: skip
    t0 = time.perf_counter()
    hits = match_texts((texts[i] for i in kept), build_index({"synthetic": bench}))
    t_decontam = time.perf_counter() - t0
    print(json.dumps({
        "problems": problems, "texts_mb": round(base), "dedupe_s": round(t_dedupe, 1),
        "dedupe_peak_over_texts_mb": round(after_dedupe - base),
        "decontam_s": round(t_decontam, 1), "hits": len(hits),
        "decontam_peak_over_texts_mb": round(rss_mb() - base),
    }))  # fmt: skip


def run_child(cmd: list[str]) -> tuple[float, float, float, int, str]:
    """(seconds, peak RSS in GB of the largest process, peak RSS in GB of the whole process
    tree sampled every 0.1 s, exit code, its output) of `cmd`, run in a fresh wrapper so
    each stage's peak is its own."""
    wrapper = [sys.executable, __file__, CHILD, json.dumps(cmd)]
    t0 = time.perf_counter()
    out = subprocess.run(wrapper, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    last = (out.stdout.strip().splitlines() or ["{}"])[-1]
    try:
        info = json.loads(last)
    except json.JSONDecodeError:
        info = {}
    if out.returncode != 0 or "maxrss_kb" not in info or info.get("rc"):
        sys.stderr.write(out.stderr[-2000:])
    gb = 1024**2
    return (
        seconds,
        info.get("maxrss_kb", 0) / gb,
        info.get("tree_kb", 0) / gb,
        info.get("rc", out.returncode),
        out.stderr,
    )


def _tree_rss_kb(root: int) -> int:
    """Resident KB of `root` and every descendant (from /proc)."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/statm") as f:
                pages = int(f.read().split()[1])
        except OSError:
            continue
        parent[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE") // 1024
    tree, todo = {root}, [root]
    children: dict[int, list[int]] = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in tree:
                tree.add(c)
                todo.append(c)
    return sum(rss.get(p, 0) for p in tree)


def _child(cmd_json: str) -> int:
    cmd = json.loads(cmd_json)
    proc = subprocess.Popen(cmd, stdout=sys.stderr)  # the wrapper's stdout is its own JSON
    tree = 0
    while proc.poll() is None:
        tree = max(tree, _tree_rss_kb(proc.pid))
        time.sleep(0.1)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KB on Linux
    print(json.dumps({"rc": proc.returncode, "maxrss_kb": peak, "tree_kb": tree}))
    return 0


def serial_math_verify_rate(folder: Path, n: int) -> float:
    """Items/s of plain math-verify, one by one, on the store's first `n` completions."""
    from math_verify import parse, verify

    from reasoning_distill.generation.store import Store

    pairs = []
    for s in Store(folder).read():
        pairs.append((s.gold, s.completion))
        if len(pairs) >= n:
            break
    verify(parse(pairs[0][0]), parse(pairs[0][1]))  # warm
    t0 = time.perf_counter()
    for gold, completion in pairs:
        verify(parse(gold), parse(completion))
    return len(pairs) / (time.perf_counter() - t0)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--sizes", default="10k,40k,160k", help="traces per store, comma-separated")
    p.add_argument("--trace-kb", type=float, default=20.0)
    p.add_argument("--workers", type=int, default=None, help="rdistill verify --workers")
    p.add_argument("--serial-n", type=int, default=300, help="items for serial math-verify")
    p.add_argument("--dir", type=Path, default=None, help="where the stores go (default: tmp)")
    p.add_argument("--keep", action="store_true", help="keep the stores")
    p.add_argument(
        "--dedupe", type=_size, default=None, metavar="N",
        help="instead: peak memory of dedupe and decontamination over N problems (e.g. 1m)",
    )  # fmt: skip
    args = p.parse_args()
    if args.dedupe:
        seconds, gb, _, rc, text = run_child(
            [sys.executable, __file__, "--_dedupe", str(args.dedupe)]
        )
        print(text.strip().splitlines()[-1])
        print(f"dedupe+decontam {args.dedupe} problems: {seconds:.1f} s, peak RSS {gb:.2f} GB")
        return rc
    sizes = [_size(s) for s in args.sizes.split(",")]
    base = args.dir or Path(tempfile.mkdtemp(prefix="bench_scale-"))
    base.mkdir(parents=True, exist_ok=True)
    rdistill = [sys.executable, "-m", "reasoning_distill.cli.main"]
    results: dict[str, list[tuple[int, float, float, float]]] = {
        "verify": [],
        "build": [],
        "eval": [],
    }
    rates = []
    try:
        for n in sizes:
            gen = base / f"gen-{n}"
            if gen.exists() or (base / f"ds-{n}").exists():  # never delete what we did not write
                raise SystemExit(f"bench_scale: {gen} (or ds-{n}) exists; give an empty --dir")
            t0 = time.perf_counter()
            nbytes = make_store(gen, n, args.trace_kb)
            print(f"# {n} traces: store {nbytes / 1e6:.0f} MB, made in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip
            verify = [*rdistill, "verify", "--samples", str(gen)]
            if args.workers:
                verify += ["--workers", str(args.workers)]
            stages = {
                "verify": verify,
                "build": [
                    *rdistill,
                    "build",
                    "--samples",
                    str(gen),
                    "--out",
                    str(base / f"ds-{n}"),
                ],
                "eval": [sys.executable, __file__, "--_eval", str(gen)],
            }
            for stage, cmd in stages.items():
                seconds, gb, tree, rc, _ = run_child(cmd)
                results[stage].append((n, seconds, gb, tree))
                print(f"{stage:7s} {n:>8d} traces  {seconds:8.1f} s  peak RSS {gb:5.2f} GB "
                      f"(largest process), {tree:5.2f} GB (all its processes)"
                      f"{'' if rc == 0 else f'  (exit {rc})'}", flush=True)  # fmt: skip
            ours = n / results["verify"][-1][1]
            serial = serial_math_verify_rate(gen, args.serial_n)
            rates.append((n, ours, serial))
            print(f"math    {n:>8d} traces  rdistill verify {ours:7.1f} items/s (whole command), "
                  f"serial math-verify {serial:7.1f} items/s: {ours / serial:.2f}x", flush=True)  # fmt: skip
            if not args.keep:
                shutil.rmtree(gen, ignore_errors=True)
                shutil.rmtree(base / f"ds-{n}", ignore_errors=True)
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(base, ignore_errors=True)
    print("\n| stage | traces | time (s) | peak RSS, largest process (GB) | peak RSS, all "
          "processes (GB) | time growth | RSS growth (all) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for stage, rows in results.items():
        for j, (n, s, gb, tree) in enumerate(rows):
            tg = f"{s / rows[j - 1][1]:.2f}x" if j else ""
            mg = f"{tree / rows[j - 1][3]:.2f}x" if j and rows[j - 1][3] else ""
            print(f"| {stage} | {n} | {s:.1f} | {gb:.2f} | {tree:.2f} | {tg} | {mg} |")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == CHILD:
        raise SystemExit(_child(sys.argv[2]))
    if len(sys.argv) == 3 and sys.argv[1] == "--_dedupe":
        dedupe_memory(int(sys.argv[2]))
        raise SystemExit(0)
    if len(sys.argv) == 3 and sys.argv[1] == "--_eval":
        eval_scoring(sys.argv[2])
        raise SystemExit(0)
    raise SystemExit(main())
