"""Build throughput on the toy recipe, stage by stage (problems, generate, verify, write).

  .venv/bin/python benchmarks/bench_build.py [--math 120 --code 40 --n 2] [--teacher DIR --keep all]

Runs `data_recipes/recipes/toy_math_code.yaml` through `run_recipe` (what `rdistill build`
and the demo call) into a fresh temporary folder, then once more to time a resume that has
nothing left to do. `--teacher` names a model folder (default: the miniature world's cached
teacher, built on first use). Prints seconds and items per second for every stage.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--math", type=int, default=120)
    ap.add_argument("--code", type=int, default=40)
    ap.add_argument("--n", type=int, default=2, help="samples per problem")
    ap.add_argument("--teacher", default=None, help="model folder (default: the toy teacher)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--keep",
        choices=["verified", "all"],
        default="verified",
        help="all: for an untrained --teacher whose traces never verify",
    )
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from reasoning_distill.data_recipes.pipeline import run_recipe
    from reasoning_distill.data_recipes.recipe import RECIPES_DIR, Recipe, load_recipe

    data = load_recipe(RECIPES_DIR / "toy_math_code.yaml").model_dump(mode="json")
    for src in data["sources"]:
        src["toy"]["n"] = a.math if src["toy"]["kind"] == "math" else a.code
    data["teacher"]["sampling"]["n"] = a.n
    data["select"]["keep"] = a.keep
    if a.teacher:
        data["teacher"]["model"] = str(Path(a.teacher).resolve())
    recipe = Recipe.model_validate(data)
    problems = a.math + a.code
    samples = problems * a.n
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = run_recipe(recipe, root=Path(tmp), workers=a.workers)
        total = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_recipe(recipe, root=Path(tmp), workers=a.workers)
        resume = time.perf_counter() - t0
    t = run.stats["timings_s"]
    units = {"problems": problems, "generate": samples, "verify": samples,
             "write": run.stats["write"]["rows"]}  # fmt: skip
    print(f"toy recipe: {problems} problems x {a.n} samples, teacher {recipe.teacher.model}")
    print(f"{'stage':<10} {'seconds':>8} {'items':>7} {'items/s':>9}")
    for stage in ("problems", "generate", "verify", "write"):
        print(
            f"{stage:<10} {t[stage]:8.2f} {units[stage]:7d} {units[stage] / max(t[stage], 1e-9):9.1f}"
        )
    print(f"{'total':<10} {total:8.2f}   (a rerun with nothing to do: {resume:.2f} s)")
    w = run.stats["write"]
    print(f"verdicts: {w['verdicts']}; rows kept: {w['rows']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
