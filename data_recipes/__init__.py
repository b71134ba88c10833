"""Dataset recipes and the steps that build verified datasets.

Public API:
- `find_contamination(texts, benchmarks, data_dir=None, ngram_sizes=(8, 13))` ->
  `list[ContaminationHit]` (index, benchmark, benchmark_id, kind: exact | normalised | ngram-N);
- `dedupe(texts, ...)` -> `DedupeResult` (exact normalised text + MinHash LSH);
- `load_recipe(path)` -> `Recipe`, `run_recipe(recipe, root=...)` (what `rdistill build` runs);
- `build_dataset(samples_dir, out_dir, SelectPolicy(...))`: a generation store plus its
  verdicts to a `messages` dataset with its card.

The verdict records and their store are `reasoning_distill.verification`'s.
"""

from reasoning_distill.data_recipes.dataset import build_dataset
from reasoning_distill.data_recipes.decontam import ContaminationHit, find_contamination
from reasoning_distill.data_recipes.dedupe import DedupeResult, dedupe
from reasoning_distill.data_recipes.pipeline import run_recipe
from reasoning_distill.data_recipes.recipe import Recipe, load_recipe
from reasoning_distill.data_recipes.select import SelectPolicy

__all__ = [
    "ContaminationHit",
    "DedupeResult",
    "Recipe",
    "SelectPolicy",
    "build_dataset",
    "dedupe",
    "find_contamination",
    "load_recipe",
    "run_recipe",
]
