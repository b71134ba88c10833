"""Does the white-box stage help? The demo's reverse-KL arm, off- and on-policy, against the
verified SFT arm trained for the same number of extra optimiser steps, on the toy world.

    nice -n 10 .venv/bin/python benchmarks/kd_helps.py --out runs/kd_helps [--seeds 3]

Design (one run, everything from the demo's own stages):
1. the toy teacher (cached), its samples for the train prompts, verified; the verified dataset;
2. one student trained by SFT on the verified traces for `--sft-steps` steps (the base);
3. from that base, for each seed, three continuations of `--kd-steps` optimiser steps at the
   demo's reverse-KL learning rate: `sft_more` (SFT on the same verified traces: the verified
   arm with the same total step count), `rkl_off` (reverse KL to the teacher on the verified
   traces, teacher-forced: the demo's verified_rkl arm) and `rkl_on` (reverse KL on the
   student's own samples, scored by the teacher);
4. every model evaluated under the demo's protocol on the held-out toy_math problems; paired
   per-problem differences (reasoning_distill.eval.metrics.difference) per seed and pooled
   over seeds (each problem's pass rate averaged over the seeds' samples).

Equal steps are not equal FLOPs: a reverse-KL step also runs the teacher forward (and an
on-policy step samples max_tokens tokens first), so the KL arms get more compute than
sft_more, never less. Writes OUT/kd_helps.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import replace
from pathlib import Path

ARMS = ("sft_more", "rkl_off", "rkl_on")


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--train-math", type=int, default=1500)
    p.add_argument("--heldout-math", type=int, default=300)
    p.add_argument("--sft-steps", type=int, default=600)
    p.add_argument("--kd-steps", type=int, default=100)
    p.add_argument("--eval-n", type=int, default=4)
    p.add_argument("--quick", action="store_true", help="a plumbing check with the quick teacher")
    p.add_argument("--teacher-dir", type=Path, default=None, help="a toy teacher folder to use")
    return p.parse_args()


def _demo_config(args):
    from reasoning_distill.demo.config import DemoConfig

    base = DemoConfig.quick() if args.quick else DemoConfig()
    return replace(
        base,
        name="kd_helps",
        train_math=args.train_math,
        train_code=20,
        heldout_math=args.heldout_math,
        heldout_code=10,
        gen_n=2,
        sft_steps=args.sft_steps,
        rkl_steps=args.kd_steps,
        eval_n=args.eval_n,
    )


def _data(cfg, out: Path, teacher_dir: Path | None):
    """The demo's teacher, held-out problems and verified dataset (the toy recipe through
    `run_recipe`, as `rdistill build` and the demo run it)."""
    from reasoning_distill.data_recipes.pipeline import run_recipe

    from reasoning_distill.demo.stages import copy_teacher, demo_recipe, make_engine, make_problems
    from reasoning_distill.toy.world import get_teacher

    teacher = copy_teacher(teacher_dir or get_teacher(cfg.teacher).path, out)
    problems = make_problems(cfg, out)
    run = run_recipe(
        demo_recipe(cfg),
        root=out,
        out=out / "datasets" / "verified",
        work=out / "build",
        workers=cfg.workers,
        engine_factory=lambda: make_engine(cfg, teacher),
    )
    stats = getattr(run, "stats", None)
    return teacher, problems, {"verified": out / "datasets" / "verified"}, stats


def _init_student(cfg, teacher: Path, out: Path) -> Path:
    from reasoning_distill.toy.models import init_model
    from reasoning_distill.training.sft import load_tokenizer

    path = out / "students" / "init"
    if not (path / "config.json").exists():
        tok = load_tokenizer(str(teacher))
        init_model(tok, cfg.student_arch, seed=cfg.seed).save_pretrained(str(path))
        tok.save_pretrained(str(path))
    return path


def _train(
    kind: str, start: Path, data: Path, out: Path, steps: int, lr: float, seed: int, cfg, teacher
):
    from reasoning_distill.training.config import StudentSFTConfig
    from reasoning_distill.training.kd_config import DistillConfig
    from reasoning_distill.training.rkl import train_distill
    from reasoning_distill.training.sft import train_sft

    done = out / "final" / "config.json"
    if done.exists():
        return out / "final", json.loads((out / "kd_helps_arm.json").read_text())
    common = dict(
        max_steps=steps,
        learning_rate=lr,
        per_device_train_batch_size=cfg.sft_batch_size,
        seed=seed,
        logging_steps=10,
        torch_num_threads=2,
    )
    t0 = time.perf_counter()
    if kind == "sft":
        result = train_sft(start, None, data, out, StudentSFTConfig(**common))
    else:
        mode = "on_policy" if kind == "rkl_on" else "off_policy"
        config = DistillConfig(
            **common, teacher=str(teacher), mode=mode, max_new_tokens=cfg.max_tokens
        )
        result = train_distill(start, data, out, config)
    info = {"seconds": time.perf_counter() - t0, "first_loss": result.first_loss,
            "last_loss": result.last_loss}  # fmt: skip
    (out / "kd_helps_arm.json").write_text(json.dumps(info))
    return result.checkpoint, info


def _evaluate(cfg, name: str, model: Path, problems, out: Path) -> dict[str, list[bool]]:
    from reasoning_distill.eval.evaluate import EvalProtocol, evaluate_model

    from reasoning_distill.demo.stages import make_engine

    protocol = EvalProtocol(
        n=cfg.eval_n,
        temperature=cfg.eval_temperature,
        top_p=cfg.eval_top_p,
        max_tokens=cfg.max_tokens,
        seed=cfg.eval_seed,
        engine=cfg.engine,
    )
    engine = make_engine(cfg, model)
    try:
        per = evaluate_model(
            engine, {"toy_math": problems}, protocol, out / "eval" / name, workers=cfg.workers,
            name=name,
        )  # fmt: skip
    finally:
        engine.close()
    return per["toy_math"]


def _pooled(per_seed: list[dict[str, list[bool]]]) -> dict[str, list[bool]]:
    """One problem's samples over all seeds, so pass@1 is its mean over seeds and samples."""
    pooled: dict[str, list[bool]] = {}
    for per in per_seed:
        for pid, verdicts in per.items():
            pooled.setdefault(pid, []).extend(verdicts)
    return pooled


def _report(results: dict, timing: dict, cfg, args, verify_summary, elapsed: float) -> dict:
    """pass@1 of every model evaluated so far, and the paired differences of complete seeds."""
    from reasoning_distill.eval.metrics import difference, score

    report: dict = {
        "config": {
            "train_math": cfg.train_math, "heldout_math": cfg.heldout_math,
            "sft_steps": cfg.sft_steps, "kd_steps": cfg.rkl_steps, "kd_lr": cfg.rkl_lr,
            "eval_n": cfg.eval_n, "seeds": args.seeds, "quick_teacher": args.quick,
        },
        "build": verify_summary,
        "train": timing,
        "pass@1": {},
        "differences": {},
        "elapsed_s": elapsed,
    }  # fmt: skip
    for name, per in results.items():
        s = score(per)
        report["pass@1"][name] = {"value": s.pass_at_k, "ci95": list(s.ci95)}
    diffs = report["differences"]
    for versus in ("rkl_off", "rkl_on"):
        seeds = [
            s for s in range(args.seeds)
            if f"{versus}_s{s}" in results and f"sft_more_s{s}" in results
        ]  # fmt: skip
        for seed in seeds:
            d = difference(results[f"{versus}_s{seed}"], results[f"sft_more_s{seed}"])
            diffs[f"{versus}_s{seed} - sft_more_s{seed}"] = {
                "diff": d.diff, "ci95": list(d.ci95), "separated": d.separated,
            }  # fmt: skip
        if len(seeds) > 1:
            d = difference(
                _pooled([results[f"{versus}_s{s}"] for s in seeds]),
                _pooled([results[f"sft_more_s{s}"] for s in seeds]),
            )
            diffs[f"{versus} - sft_more (pooled {len(seeds)} seeds)"] = {
                "diff": d.diff, "ci95": list(d.ci95), "separated": d.separated,
                "n_problems": d.n_problems,
            }  # fmt: skip
    more = [results[k] for k in results if k.startswith("sft_more_s")]
    if more:
        d = difference(_pooled(more), results["base"])
        diffs["sft_more - base"] = {"diff": d.diff, "ci95": list(d.ci95)}
    return report


def _print(report: dict, path: Path) -> None:
    print(f"{'model':<22} pass@1  95% interval")
    for name, v in report["pass@1"].items():
        print(f"{name:<22} {v['value']:.3f}  [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}]")
    print(f"\n{'paired difference':<40} diff    95% interval")
    for name, v in report["differences"].items():
        print(f"{name:<40} {v['diff']:+.3f}  [{v['ci95'][0]:+.3f}, {v['ci95'][1]:+.3f}]")
    print(f"\n{report['elapsed_s']:.0f} s; written {path}", flush=True)


def main() -> int:
    args = _parse()
    logging.basicConfig(level=logging.WARNING)
    cfg = _demo_config(args)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    teacher, problems, datasets, verify_summary = _data(cfg, out, args.teacher_dir)
    print(
        f"data ready ({time.perf_counter() - t0:.0f} s): {verify_summary.get('math')}", flush=True
    )
    verified = datasets["verified"]
    init = _init_student(cfg, teacher, out)
    base, base_info = _train(
        "sft", init, verified, out / "students" / "base", cfg.sft_steps, cfg.sft_lr, cfg.seed,
        cfg, teacher,
    )  # fmt: skip
    heldout = problems["toy_math"]
    results: dict[str, dict] = {"base": _evaluate(cfg, "base", base, heldout, out)}
    timing = {"base": base_info}
    path = out / "kd_helps.json"
    for seed in range(args.seeds):
        for arm in ARMS:
            name = f"{arm}_s{seed}"
            kind = "sft" if arm == "sft_more" else arm
            ckpt, info = _train(
                kind, base, verified, out / "students" / name, cfg.rkl_steps, cfg.rkl_lr,
                seed + 1, cfg, teacher,
            )  # fmt: skip
            timing[name] = info
            results[name] = _evaluate(cfg, name, ckpt, heldout, out)
            # written after every model, so a stopped run still leaves its numbers
            report = _report(results, timing, cfg, args, verify_summary, time.perf_counter() - t0)
            path.write_text(json.dumps(report, indent=2))
            _print(report, path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
