"""When does verification pay? verified minus unverified as a function of the share of wrong
teacher traces, seeds pooled, on a finished demo run.

    rdistill demo --out runs/demo
    nice -n 10 .venv/bin/python benchmarks/verification_sweep.py --demo runs/demo \
        [--wrong-shares 0.1,0.25,0.4] [--temperatures 0.3,0.6] [--seeds 3]

Design (everything from the finished demo in --demo; its own run is one point):
1. two ways to move the share of wrong traces, each giving a point:
   - `--wrong-shares`: the demo's own traces (its unverified dataset, every trace judged),
     mixed to that share of wrong traces in each kind (`demo.sweep.mixed_rows`: every right
     trace and a seeded sample of the wrong ones, or all wrong ones and fewer right ones where
     the pool has too few): the same teacher and problems, only the share changes;
   - `--temperatures`: the demo's teacher samples the demo's training problems again at that
     temperature (the demo's recipe, `data_recipes.pipeline.run_recipe`, with only the
     temperature changed), judged by the demo's verifiers. The toy teacher cannot go below
     about 40% wrong this way, hence the mixed points;
2. at each point two datasets: `unverified` (every trace of the point, right or wrong), whose
   wrong share is the point's x, and `verified` (its traces that passed); where the verified
   data is the demo's own verified dataset, the demo's verified students are reused;
3. both trained from the demo's initialisation with the demo's SFT recipe (steps, batch,
   learning rate and schedule), over the demo's training seeds, then evaluated under the
   demo's protocol on its held-out toy_math and toy_code;
4. per point and benchmark, verified minus unverified paired within each seed and pooled with
   an interval that includes seed variance (reasoning_distill.eval.seeds, as the demo and
   `rdistill gap`), the per-seed differences beside it.
The answer is stated as measured, whichever way it falls.

Writes DEMO/verification_sweep/sweep.json (after every point, so a stopped run keeps what it
measured; a rerun resumes: stores, trained arms and cached generations are reused), the plot
DEMO/verification_sweep.png, and adds the section to the demo's report.md / report.json.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ARMS = ("verified", "unverified")


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--demo", required=True, type=Path, help="a finished `rdistill demo` folder")
    p.add_argument(
        "--temperatures",
        default="",
        help="teacher sampling temperatures besides the demo's own (comma-separated)",
    )
    p.add_argument(
        "--wrong-shares",
        default="0.1,0.25,0.4",
        help="wrong shares to mix the demo's own traces to (comma-separated, in [0, 1))",
    )
    p.add_argument("--seeds", type=int, help="training seeds per arm (default: the demo's)")
    p.add_argument("--workers", type=int, default=3, help="arms trained at once (1 thread each)")
    args = p.parse_args()
    for name in ("temperatures", "wrong_shares"):
        text = getattr(args, name)
        try:
            setattr(args, name, [float(t) for t in text.split(",") if t.strip()])
        except ValueError:
            p.error(f"--{name.replace('_', '-')}: comma-separated numbers, got {text!r}")
    if any(not 0 < t <= 2 for t in args.temperatures):
        p.error("--temperatures must lie in (0, 2]")
    if any(not 0 <= w < 1 for w in args.wrong_shares):
        p.error("--wrong-shares must lie in [0, 1)")
    if (args.seeds is not None and args.seeds < 1) or args.workers < 1:
        p.error("--seeds and --workers must be at least 1")
    return args


def _traces(cfg, demo: Path, out: Path, temperature: float) -> tuple[Path, dict, dict]:
    """The point's store, its two datasets and its wrong share (the demo's own for its
    temperature, else sampled again into `out`)."""
    from reasoning_distill.data_recipes.dataset import build_dataset
    from reasoning_distill.data_recipes.pipeline import run_recipe
    from reasoning_distill.data_recipes.select import SelectPolicy

    from reasoning_distill.demo.stages import demo_recipe, make_engine
    from reasoning_distill.demo.sweep import wrong_share
    from reasoning_distill.verification import read_store, read_verdicts

    if temperature == cfg.gen_temperature:
        gen = demo / "build" / "generations"
        datasets = {arm: demo / "datasets" / arm for arm in ARMS}
    else:
        point = replace(cfg, gen_temperature=temperature)
        run = run_recipe(
            demo_recipe(point),
            root=out,
            out=out / "datasets" / "verified",
            work=out / "build",
            workers=cfg.workers,
            engine_factory=lambda: make_engine(point, demo / "teacher"),
            until="write",
        )
        gen = run.work / "generations"
        datasets = {"verified": run.out, "unverified": out / "datasets" / "unverified"}
        if not (datasets["unverified"] / "rdistill_dataset.json").exists():
            build_dataset(gen, datasets["unverified"], SelectPolicy(keep="all"))
    verdicts = read_verdicts(gen)
    kinds = [(s.kind, verdicts[s.key].correct) for s in read_store(gen)]
    return gen, datasets, wrong_share(kinds)


def _mixed(cfg, demo: Path, out: Path, share: float) -> tuple[dict, dict, set]:
    """The point's two datasets, mixed from the demo's own judged traces to `share` wrong in
    each kind (saved under `out`, reused by a rerun), its wrong share, and the arms whose data
    is the demo's own (their students are reused)."""
    from datasets import load_from_disk

    from reasoning_distill.atomic import renamed_into_place
    from reasoning_distill.demo.sweep import mixed_rows, wrong_share

    pool = load_from_disk(str(demo / "datasets" / "unverified"))
    rows = mixed_rows(pool["kind"], pool["correct"], share, seed=cfg.seed)
    unverified = pool.select(rows)
    verified = unverified.select([i for i, c in enumerate(unverified["correct"]) if c])
    datasets, own = {}, set()
    demo_verified = load_from_disk(str(demo / "datasets" / "verified"))
    ids = list(zip(verified["problem_id"], verified["sample_index"], strict=True))
    if ids == list(zip(demo_verified["problem_id"], demo_verified["sample_index"], strict=True)):
        datasets["verified"], own = demo / "datasets" / "verified", {"verified"}
    for arm, ds in (("unverified", unverified), ("verified", verified)):
        if arm in datasets:
            continue
        path = out / "datasets" / arm
        if not (path / "dataset_info.json").exists():
            with renamed_into_place(path) as tmp:
                ds.save_to_disk(str(tmp))
        datasets[arm] = path
    wrong = wrong_share(zip(unverified["kind"], unverified["correct"], strict=True))
    return datasets, wrong, own


def _jobs(cfg, demo: Path, out: Path, datasets: dict, seeds: int) -> dict[str, dict]:
    from reasoning_distill.demo.run import seed_sft_jobs

    jobs = {}
    for arm in ARMS:
        jobs.update(seed_sft_jobs(cfg, demo, out, arm, datasets[arm], seeds))
    return jobs


def _models(cfg, demo: Path, out: Path, own: set, datasets: dict, seeds: int, workers: int):
    """{arm: [checkpoint per seed]}: the demo's own students for the arms in `own` (for the
    seeds it trained; further seeds are trained here), else trained here."""
    from reasoning_distill.demo.run import arm_name
    from reasoning_distill.demo.stages import train_arms

    models: dict[str, list[Path | None]] = {arm: [None] * seeds for arm in ARMS}
    for arm in own:
        for k in range(min(seeds, cfg.seeds)):
            models[arm][k] = demo / "students" / arm_name(arm, k) / "final"
    jobs = {
        n: j
        for n, j in _jobs(cfg, demo, out, datasets, seeds).items()
        if models[n.rsplit("_s", 1)[0]][int(n.rsplit("_s", 1)[1])] is None
    }
    for name, result, now in train_arms(jobs, workers):
        arm, k = name.rsplit("_s", 1)
        models[arm][int(k)] = Path(result["checkpoint"])
        if now:
            print(f"  trained {name}: {result['train_runtime_s']:.0f} s", flush=True)
    return models


def _point(cfg, demo: Path, temperature: float, mix: float | None, seeds: int, workers: int):
    """One point: the teacher's traces at `temperature`, or (with `mix`) the demo's own traces
    mixed to that wrong share."""
    from reasoning_distill.eval.seeds import seed_difference, seed_score

    from reasoning_distill.demo.run import arm_name, evaluate
    from reasoning_distill.demo.stages import make_problems

    t0 = time.perf_counter()
    if mix is None:
        # the demo's own point trains only seeds beyond the demo's, and never into its folders
        out = demo / "verification_sweep" / f"T{temperature:g}"
        _, datasets, wrong = _traces(cfg, demo, out, temperature)
        own = set(ARMS) if temperature == cfg.gen_temperature else set()
        label = f"T={temperature:g}"
    else:
        out = demo / "verification_sweep" / f"mix{mix:g}"
        datasets, wrong, own = _mixed(cfg, demo, out, mix)
        label = f"mixed to {mix:g} wrong"
    print(
        f"{label}: {wrong['all']['share']:.2f} of {wrong['all']['traces']} traces wrong",
        flush=True,
    )
    models = _models(cfg, demo, out, own, datasets, seeds, workers)
    problems = make_problems(cfg, demo / "verification_sweep")
    benchmarks = {b: problems[b] for b in ("toy_math", "toy_code")}
    per: dict[str, dict[str, list]] = {b: {arm: [] for arm in ARMS} for b in benchmarks}
    for arm in ARMS:
        for k, ckpt in enumerate(models[arm]):
            name = f"{arm}_s{k}"
            # the demo's own students keep their eval cache in the demo folder
            theirs = arm in own and k < cfg.seeds
            eval_name = arm_name(arm, k) if theirs else name
            got = evaluate(cfg, demo if theirs else out, {eval_name: ckpt}, benchmarks)
            for b, res in got["results"].items():
                per[b][arm].append(next(iter(res.values())))
        print(f"  evaluated {name}", flush=True)
    seed_ids = [cfg.seed + k for k in range(seeds)]
    result = {
        "temperature": temperature,
        "mix": mix,
        "demo": own == set(ARMS),
        "reused": sorted(own),
        "wrong": wrong,
        "benchmarks": {},
    }
    for b, arms in per.items():
        d = seed_difference(arms["verified"], arms["unverified"], seed_ids)
        result["benchmarks"][b] = {
            "verified": seed_score(arms["verified"], seed_ids).value,
            "unverified": seed_score(arms["unverified"], seed_ids).value,
            "diff": d.value,
            "ci95": list(d.ci95),
            "per_seed": list(d.per_seed),
            "seeds": seed_ids,
            "ci_method": d.ci_method,
        }
    result["elapsed_s"] = round(time.perf_counter() - t0, 1)
    return result


def main() -> int:
    args = _parse()
    logging.basicConfig(level=logging.WARNING)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    from reasoning_distill.eval.seeds import CI_METHOD

    from reasoning_distill.atomic import atomic_write_json
    from reasoning_distill.demo.config import load_demo_config, run_key
    from reasoning_distill.demo.sweep import add_to_demo_report, sweep_file, sweep_table

    try:
        cfg = load_demo_config(args.demo)
    except ValueError as e:
        raise SystemExit(f"verification_sweep: {e}") from None
    seeds = args.seeds or cfg.seeds
    temperatures = sorted({cfg.gen_temperature, *args.temperatures})
    specs = [(t, None) for t in temperatures]
    specs += [(cfg.gen_temperature, w) for w in sorted(set(args.wrong_shares))]
    path = sweep_file(args.demo)
    t0 = time.perf_counter()
    points = []
    for temperature, mix in specs:
        points.append(_point(cfg, args.demo, temperature, mix, seeds, args.workers))
        sweep = {
            "command": " ".join(["benchmarks/verification_sweep.py", *sys.argv[1:]]),
            "demo_config_key": run_key(args.demo),
            "ci_method": CI_METHOD if seeds > 1 else "paired t over problems (one seed)",
            "settings": {
                "seeds": seeds,
                "temperatures": temperatures,
                "wrong_shares": sorted(set(args.wrong_shares)),
                "sft_steps": cfg.sft_steps,
                "batch_size": cfg.sft_batch_size,
                "eval_n": cfg.eval_n,
            },
            "points": points,
            "elapsed_s": round(time.perf_counter() - t0, 1),
        }
        atomic_write_json(path, sweep)
    print("\n".join(sweep_table(sweep)))
    md = add_to_demo_report(args.demo)
    print(f"{sweep['elapsed_s']:.0f} s; written {path} and {md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
