"""Dataset recipes and the steps that build verified datasets.

Public API: `find_contamination` (and `ContaminationHit`), `dedupe`, `load_recipe`,
`build_dataset` and `run_recipe`; the verdict record format is `verdicts.VerdictRecord`.
"""

from reasoning_distill.data_recipes.decontam import ContaminationHit, find_contamination
from reasoning_distill.data_recipes.dedupe import dedupe

__all__ = ["ContaminationHit", "dedupe", "find_contamination"]
