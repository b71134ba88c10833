"""Supervised fine-tuning of a student on a `messages` dataset, on top of TRL's `SFTTrainer`.

`train_sft` is the whole stage: load (or take) the model, check that the assistant-only mask
really masks something, train for exactly `config.max_steps` optimiser steps, save the final
checkpoint atomically and return a `TrainResult`. It is a plain top-level function of
picklable arguments, so it runs in a `spawn` child process (two trainings on two cores).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from reasoning_distill.training.checkpoint import (
    TrainResult,
    prepare_run_dir,
    result_from_log_history,
    save_final,
    write_result,
)
from reasoning_distill.training.config import StudentSFTConfig
from reasoning_distill.training.reporting import prepare_report_to

logger = logging.getLogger(__name__)

_GENERATION_MARKER = re.compile(r"\{%-?\s*generation\s*-?%\}")


def load_train_dataset(source: Any):
    """A `datasets.Dataset` from a Dataset, a `save_to_disk` folder, or a JSONL file.

    Loaded into memory: TRL's tokenisation `map` would otherwise write cache files into the
    dataset's own folder (someone else's artifact).
    """
    from datasets import Dataset, DatasetDict, load_from_disk

    if isinstance(source, Dataset):
        return source
    path = Path(source)
    if path.is_dir():
        ds = load_from_disk(str(path), keep_in_memory=True)
        if isinstance(ds, DatasetDict):
            if "train" not in ds:
                raise ValueError(
                    f"dataset folder {path} holds splits {list(ds)}; expected a 'train' split"
                )
            ds = ds["train"]
        return ds
    if path.suffix in (".jsonl", ".json") and path.is_file():
        rows = []
        with path.open() as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{lineno}: not valid JSON ({e.msg})") from e
        if not rows:
            raise ValueError(f"{path} holds no rows")
        return Dataset.from_list(rows)
    raise FileNotFoundError(
        f"no dataset at {path} (expected a save_to_disk folder or a .jsonl file)"
    )


def load_causal_lm(model_path_or_model: Any):
    """A float32 causal LM with eager attention (faster than SDPA for tiny models on CPU)."""
    import torch
    from transformers import AutoModelForCausalLM

    if not isinstance(model_path_or_model, (str, Path)):
        return model_path_or_model
    path = Path(model_path_or_model)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no model checkpoint at {path} (config.json missing)")
    return AutoModelForCausalLM.from_pretrained(
        str(path), attn_implementation="eager", dtype=torch.float32
    )


def load_tokenizer(tokenizer: Any, model_path: Any = None):
    """The tokenizer object, loading it from a path (or from `model_path` when None)."""
    from transformers import AutoTokenizer

    if tokenizer is None:
        if not isinstance(model_path, (str, Path)):
            raise ValueError("pass a tokenizer when the model is given as an object")
        tokenizer = model_path
    if isinstance(tokenizer, (str, Path)):
        return AutoTokenizer.from_pretrained(str(tokenizer))
    return tokenizer


def check_chat_template(tokenizer, config: StudentSFTConfig, column_names: list[str]) -> None:
    """Fail early, naming the fix, when assistant-only loss cannot work on this data."""
    if not config.assistant_only_loss:
        return
    if "messages" not in column_names:
        raise ValueError(
            f"assistant_only_loss=True needs a conversational dataset with a 'messages' column; "
            f"this one has columns {column_names}. Convert it to messages, or set "
            f"assistant_only_loss=False (prompt/completion datasets train on the completion anyway)."
        )
    template = tokenizer.chat_template
    if config.chat_template_path:
        path = Path(config.chat_template_path)
        if not path.is_file():  # a tokenizer folder or Hub id: TRL resolves it, we cannot check
            return
        template = path.read_text()
    if isinstance(template, dict):
        template = template.get("default", "")
    if not template or not _GENERATION_MARKER.search(template):
        raise ValueError(
            "assistant_only_loss=True but the tokenizer's chat template has no "
            "{% generation %} ... {% endgeneration %} markers around the assistant content, so no "
            "assistant mask can be built. Fix: use a template with those markers (set "
            "tokenizer.chat_template or config.chat_template_path), or set assistant_only_loss=False."
        )


def check_assistant_mask(trainer, n: int = 8) -> dict[str, int]:
    """Collate a real batch and check that its labels train on some, but not all, tokens.

    An assistant mask can fail silently in two ways: all -100 (nothing learned) or nothing
    masked (prompts learned as well). Both are refused here.
    """
    ds = trainer.train_dataset
    batch = trainer.data_collator([ds[i] for i in range(min(n, len(ds)))])
    labels = batch["labels"]
    attention = batch.get("attention_mask")
    real = attention.bool() if attention is not None else labels.new_ones(labels.shape).bool()
    trained_per_row = (labels != -100).sum(dim=1)
    if (trained_per_row == 0).any():
        bad = int((trained_per_row == 0).nonzero()[0, 0])
        raise RuntimeError(
            f"the assistant mask is empty for row {bad} of the first batch: nothing would be "
            f"trained. Check that the chat template wraps assistant content in "
            f"{{% generation %}} markers and that max_length ({trainer.args.max_length}) keeps it."
        )
    trained, total = int(trained_per_row.sum()), int(real.sum())
    if trained >= total:
        raise RuntimeError(
            f"assistant_only_loss=True but every one of {total} tokens in the first batch is "
            f"trained: the mask masks nothing (prompts would be learned too)."
        )
    logger.info("assistant mask: %d of %d tokens trained in the first batch", trained, total)
    return {"trained_tokens": trained, "total_tokens": total}


@contextlib.contextmanager
def quiet_progress(disable: bool) -> Iterator[None]:
    """Silence datasets' and transformers' own progress bars while `disable` is set."""
    if not disable:
        yield
        return
    import datasets
    import transformers

    ds_was_on = datasets.is_progress_bar_enabled()
    tf_was_on = transformers.utils.logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        if ds_was_on:
            datasets.enable_progress_bars()
        if tf_was_on:
            transformers.utils.logging.enable_progress_bar()


def build_trainer(
    trainer_cls, model, tokenizer, dataset, run_dir: Path, config: StudentSFTConfig, **kwargs
):
    """Construct `trainer_cls` (SFTTrainer or a subclass) with the stage's checks applied."""
    import torch
    from transformers.trainer_callback import PrinterCallback

    if config.torch_num_threads is not None:
        torch.set_num_threads(config.torch_num_threads)
    check_chat_template(tokenizer, config, list(dataset.column_names))
    args = replace(config, output_dir=str(run_dir), report_to=prepare_report_to(config.report_to))
    trainer = trainer_cls(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer, **kwargs
    )
    # With disable_tqdm the Trainer swaps its progress bar for PrinterCallback, which print()s
    # every log dict; library code never prints (the losses are in state.log_history).
    trainer.remove_callback(PrinterCallback)
    if config.assistant_only_loss:
        check_assistant_mask(trainer)
    return trainer


def run_trainer(trainer, tokenizer, run_dir: Path, config: StudentSFTConfig) -> TrainResult:
    """Train, save `final/` atomically, write `train_log.json`, return the result."""
    start = time.perf_counter()
    output = trainer.train()
    runtime = time.perf_counter() - start
    final = save_final(trainer.model, tokenizer, run_dir)
    result = result_from_log_history(
        final,
        trainer.state.log_history,
        steps=int(trainer.state.global_step),
        train_runtime_s=float(output.metrics.get("train_runtime", runtime)),
        window=config.loss_window,
    )
    write_result(result, run_dir)
    logger.info(
        "trained %d steps in %.1fs: loss %.4f -> %.4f; saved %s",
        result.steps,
        result.train_runtime_s,
        result.first_loss,
        result.last_loss,
        final,
    )
    return result


def train_sft(
    model_path_or_model: Any,
    tokenizer: Any,
    train_dataset: Any,
    output_dir: str | Path,
    config: StudentSFTConfig | None = None,
    callbacks: list | None = None,
) -> TrainResult:
    """SFT a student for exactly `config.max_steps` steps and save it to `output_dir/final`.

    Args:
        model_path_or_model: a checkpoint folder or a loaded causal LM (trained in place).
        tokenizer: a tokenizer, a folder to load it from, or None (load from the model folder).
        train_dataset: a `datasets.Dataset`, a `save_to_disk` folder or a JSONL file, with a
            `messages` column (assistant-only loss) or TRL's text / prompt-completion columns.
        output_dir: the run directory (created); the model lands in `output_dir/final`.
        config: a `StudentSFTConfig`; its own `output_dir` is ignored.
        callbacks: extra `transformers.TrainerCallback`s (progress reporting, say).
    """
    from reasoning_distill.training.student_trainer import StudentSFTTrainer

    config = config or StudentSFTConfig()
    run_dir = prepare_run_dir(output_dir)
    with quiet_progress(bool(config.disable_tqdm)):
        tokenizer = load_tokenizer(tokenizer, model_path_or_model)
        model = load_causal_lm(model_path_or_model)
        dataset = load_train_dataset(train_dataset)
        trainer = build_trainer(
            StudentSFTTrainer, model, tokenizer, dataset, run_dir, config, callbacks=callbacks
        )
        return run_trainer(trainer, tokenizer, run_dir, config)
