"""The pre-flight of a training stage, run once per command before any weights load.

`preflight` reads the model's config files (never its weights) and runs `check.check_sft`
on the tokenizer and the dataset, plus the vocabulary check against a teacher for the
distillation stage; `run_preflight` raises a `ConfigError` listing its problems (what
`train_sft` runs unless `skip_check`), `refuse_unready` does the same after the command
printed the report (`scripts/`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from reasoning_distill.errors import ConfigError
from reasoning_distill.training.check import CheckReport, check_sft, check_vocabularies, output_rows

logger = logging.getLogger(__name__)


def preflight(
    model_name_or_path: Any,
    tokenizer,
    dataset,
    config,
    teacher_name_or_path: Any = None,
    student_tokenizer_for_teacher=None,
) -> CheckReport:
    """`check_sft` with the model's config files (no weights), plus the vocabulary check when a
    teacher is given. Model objects are read from their own `.config`."""
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    def configs(path):
        if not isinstance(path, (str, Path)):
            return path.config, getattr(path, "generation_config", None)
        cfg = AutoConfig.from_pretrained(str(path))
        try:
            gen = GenerationConfig.from_pretrained(str(path))
        except OSError:  # no generation_config.json: generation falls back to the model config
            gen = GenerationConfig.from_model_config(cfg)
        return cfg, gen

    model_config, generation_config = configs(model_name_or_path)
    report = check_sft(tokenizer, dataset, config, model_config, generation_config)
    if teacher_name_or_path is not None:
        teacher_config, _ = configs(teacher_name_or_path)
        teacher_tok = (
            AutoTokenizer.from_pretrained(str(teacher_name_or_path))
            if isinstance(teacher_name_or_path, (str, Path))
            else student_tokenizer_for_teacher
        )
        if teacher_tok is not None:
            p, n = check_vocabularies(
                tokenizer, teacher_tok, output_rows(model_config), output_rows(teacher_config)
            )
            report.problems.extend(p)
            report.notes.extend(n)
    return report


def run_preflight(model_path_or_model, tokenizer, dataset, config, teacher=None):
    """Run the pre-flight check; raise `ConfigError` listing its problems."""
    report = preflight(model_path_or_model, tokenizer, dataset, config, teacher)
    for note in report.notes:
        logger.info("check: %s", note)
    if not report.ok:
        listed = "; ".join(f"({i}) {p}" for i, p in enumerate(report.problems, 1))
        raise ConfigError(
            f"pre-flight check failed: {listed}. `rdistill train check` shows the sample; "
            f"skip_check=True trains anyway"
        )
    return report


def refuse_unready(report) -> None:
    """After the printed report: a `ConfigError` (exit 2) when the pre-flight found problems."""
    if not report.ok:
        raise ConfigError(
            f"the pre-flight check found {len(report.problems)} problem(s), listed above: "
            f"nothing was trained. Fix them, or pass --skip_check true to train anyway"
        )
