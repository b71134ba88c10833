"""Does the white-box stage help? The demo's reverse-KL arm, off- and on-policy, against SFT
on the same verified traces with the same training compute, over several seeds.

    rdistill demo --out runs/demo                        # the base (its verified student)
    nice -n 10 .venv/bin/python benchmarks/kd_helps.py --demo runs/demo [--seeds 4]

Design (everything from the finished demo run in --demo, so it is the demo's own arm):
1. the base is the demo's `verified` student (SFT on the verified traces); the teacher, the
   verified dataset, the batch size, the reverse-KL steps and learning rate are the demo's;
2. for each seed (the continuation's data order and sampling), four continuations of the base:
   `rkl_off` (the demo's verified_rkl arm: reverse KL to the teacher on the verified traces,
   teacher-forced), `rkl_on` (reverse KL on the student's own samples, scored by the teacher),
   and for each a SFT continuation on the same verified traces at the same learning rate with
   the same training FLOPs (`sft_eq_off`, `sft_eq_on`: more steps, since an SFT step skips the
   teacher's forward and the sampling; see reasoning_distill.training.compute_budget);
3. every model evaluated under the demo's protocol on a held-out set larger than the demo's
   (its first problems are the demo's own), toy_math and toy_code;
4. the answer per mode and benchmark: the difference paired within each seed, pooled over
   seeds, with a 95% interval that includes seed variance (reasoning_distill.eval.seeds, the
   comparison `rdistill gap` uses), and the per-seed differences beside it (a seed that
   disagrees in sign is flagged). "helps" / "hurts" when the interval
   excludes 0; "no effect larger than MARGIN" when it lies inside +/- --margin (a tight null);
   otherwise "not decided" (a null with wide intervals is not an answer).

Writes DEMO/kd_helps/kd_helps.json (after every model, so a stopped run keeps its numbers;
a rerun resumes: trained arms and cached generations are reused) and adds the answer to the
demo's report.md / report.json.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODES = {"off": "off_policy", "on": "on_policy"}
BENCHMARKS = ("toy_math", "toy_code")


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--demo", required=True, type=Path, help="a finished `rdistill demo` folder")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--heldout-math", type=int, default=600)
    p.add_argument("--heldout-code", type=int, default=150)
    p.add_argument("--margin", type=float, default=0.02, help="what 'no effect' must rule out")
    p.add_argument("--workers", type=int, default=2, help="arms trained at once (1 thread each)")
    return p.parse_args()


def _demo_config(demo: Path):
    from reasoning_distill.demo.config import load_demo_config

    try:
        return load_demo_config(demo)
    except ValueError as e:
        raise SystemExit(f"kd_helps: {e}") from None


def _jobs(cfg, demo: Path, out: Path, seeds: int) -> dict[str, dict]:
    from reasoning_distill.training.compute_budget import matched_sft_steps

    base, teacher = demo / "students" / "verified" / "final", demo / "teacher"
    sft_steps = {
        mode: matched_sft_steps(cfg.rkl_steps, mode, base, teacher) for mode in MODES.values()
    }
    jobs = {}
    for seed in range(seeds):
        for short, mode in MODES.items():
            common = {
                "init": str(base), "teacher": str(teacher),
                "dataset": str(demo / "datasets" / "verified"), "lr": cfg.rkl_lr,
                "batch_size": cfg.sft_batch_size, "seed": cfg.seed + 1 + seed,
            }  # fmt: skip
            for arm, kind, steps in (
                (f"rkl_{short}", "rkl", cfg.rkl_steps),
                (f"sft_eq_{short}", "sft", sft_steps[mode]),
            ):
                name = f"{arm}_s{seed}"
                jobs[name] = {
                    **common, "arm": name, "kind": kind, "steps": steps, "mode": mode,
                    "max_new_tokens": cfg.max_tokens, "out": str(out / "students" / name),
                    "step_file": str(out / "students" / f".{name}.step"),
                }  # fmt: skip
    return jobs


def _train_all(jobs: dict[str, dict], workers: int) -> dict[str, dict]:
    """Every arm, `workers` at a time in spawned single-threaded processes; resumable."""
    from reasoning_distill.demo.stages import train_arms

    # the slow on-policy arms first, so the pool does not end on one of them alone
    first = lambda n: (not n.startswith("rkl_on"), n)  # noqa: E731

    results = {}
    for name, result, now in train_arms(jobs, workers, first):
        results[name] = result
        if now:
            print(f"trained {name}: {result['train_runtime_s']:.0f} s", flush=True)
    return results


def _verdict(lo: float, hi: float, margin: float) -> str:
    if lo > 0:
        return "helps"
    if hi < 0:
        return "hurts"
    if -margin <= lo and hi <= margin:
        return f"no effect larger than {margin:.2f}"
    return "not decided (interval too wide)"


def _answer(results: dict, seeds: int, margin: float) -> dict:
    """Per mode and benchmark: the paired difference pooled over seeds with an interval that
    includes seed variance (reasoning_distill.eval.seeds), per-seed differences, the verdict."""
    from reasoning_distill.eval.seeds import seed_difference, seed_score

    answer: dict = {"pass@1": {}, "differences": {}}
    for bench in BENCHMARKS:
        answer["pass@1"][bench] = {}
        if "base" in results:
            s = seed_score([results["base"][bench]], ["base"])
            answer["pass@1"][bench]["base"] = {"value": s.value, "ci95": list(s.ci95)}
        for short in MODES:
            for arm in (f"rkl_{short}", f"sft_eq_{short}"):
                done = [s for s in range(seeds) if f"{arm}_s{s}" in results]
                if done:
                    s = seed_score([results[f"{arm}_s{i}"][bench] for i in done], done)
                    answer["pass@1"][bench][arm] = {
                        "value": s.value, "ci95": list(s.ci95), "ci_method": s.ci_method,
                        "seeds": done, "per_seed": list(s.per_seed),
                    }  # fmt: skip
            done = [s for s in range(seeds)
                    if f"rkl_{short}_s{s}" in results and f"sft_eq_{short}_s{s}" in results]  # fmt: skip
            if not done:
                continue
            a = [results[f"rkl_{short}_s{s}"][bench] for s in done]
            b = [results[f"sft_eq_{short}_s{s}"][bench] for s in done]
            d = seed_difference(a, b, done)
            lo, hi = d.ci95
            verdict = _verdict(lo, hi, margin) if len(done) > 1 else "not decided (one seed)"
            sign = 1 if d.value > 0 else -1
            answer["differences"][f"{bench} {MODES[short]}: rkl - sft_eq"] = {
                "diff": d.value, "ci95": [lo, hi], "ci_method": d.ci_method,
                "n_problems": d.n_problems, "seeds": done, "per_seed": list(d.per_seed),
                "seeds_disagree": d.settled and any(x * sign < 0 for x in d.per_seed),
                "answer": verdict if len(done) == seeds else f"partial ({len(done)} seeds)",
            }  # fmt: skip
    return answer


def main() -> int:
    args = _parse()
    logging.basicConfig(level=logging.WARNING)
    from reasoning_distill.atomic import atomic_write_json
    from reasoning_distill.demo.config import run_key
    from reasoning_distill.demo.run import evaluate
    from reasoning_distill.demo.white_box import add_to_demo_report, multi_seed_table
    from reasoning_distill.toy.tasks import make_traces

    cfg = _demo_config(args.demo)
    out = args.demo / "kd_helps"
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    jobs = _jobs(cfg, args.demo, out, args.seeds)
    train = _train_all(jobs, args.workers)
    print(f"trained {len(train)} arms in {time.perf_counter() - t0:.0f} s", flush=True)
    problems = {
        "toy_math": [
            t.problem for t in make_traces("math", "heldout", args.heldout_math, cfg.seed)
        ],
        "toy_code": [
            t.problem for t in make_traces("code", "heldout", args.heldout_code, cfg.seed)
        ],
    }
    models = {"base": args.demo / "students" / "verified" / "final"}
    models.update({name: Path(r["checkpoint"]) for name, r in train.items()})
    results: dict[str, dict] = {}
    path = out / "kd_helps.json"
    for name, model in models.items():
        evaluated = evaluate(cfg, out, {name: model}, problems)["results"]
        results[name] = {bench: per[name] for bench, per in evaluated.items()}
        report = {
            "command": " ".join(["benchmarks/kd_helps.py", *sys.argv[1:]]),
            "demo_config_key": run_key(args.demo),
            "settings": {
                "seeds": args.seeds,
                "margin": args.margin,
                "rkl_steps": cfg.rkl_steps,
                "lr": cfg.rkl_lr,
                "batch_size": cfg.sft_batch_size,
                "heldout": {k: len(v) for k, v in problems.items()},
                "eval_n": cfg.eval_n,
            },
            "train": {
                name: {k: r[k] for k in ("steps", "train_runtime_s", "first_loss", "last_loss")}
                for name, r in train.items()
            },
            "answer": _answer(results, args.seeds, args.margin),
            "evaluated": sorted(results),
            "elapsed_s": round(time.perf_counter() - t0, 1),
        }
        atomic_write_json(path, report)
        print(f"evaluated {name} ({len(results)}/{len(models)})", flush=True)
    print("\n".join(multi_seed_table(report)))
    add_to_demo_report(args.demo)
    print(f"{report['elapsed_s']:.0f} s; written {path} and {args.demo / 'report.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
