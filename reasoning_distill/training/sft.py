"""Supervised fine-tuning of a student on a `messages` dataset, on top of TRL's `SFTTrainer`.

`train_sft` is the whole stage: run the pre-flight (`training/check.py`) before any weights
load, load (or take) the model, check the assistant-only mask on a real batch, train for
exactly `config.max_steps` optimiser steps (resuming from the newest checkpoint with
`resume`), save the final model atomically to `output_dir/final` with its original inference
chat template and a generation config that stops on the template's end-of-turn token, and
return a `TrainResult`. It is a plain top-level function of picklable arguments, so it runs in
a `spawn` child process (two trainings on two cores).

`main(argv)` is the command-line entry point (`rdistill train sft`, or
`accelerate launch -m reasoning_distill.training.sft --config RECIPE.yaml`): TRL's parser over
`SFTScriptArguments`, `StudentSFTConfig` and `trl.ModelConfig` (LoRA through `use_peft`).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from reasoning_distill.errors import ConfigError, InputError, OutputError
from reasoning_distill.training.checkpoint import (
    TrainResult,
    check_run_dir,
    checkpoints,
    claim_run_dir,
    last_complete_checkpoint,
    result_from_log_history,
    save_final,
    write_result,
)
from reasoning_distill.training.config import StudentSFTConfig
from reasoning_distill.training.data import (  # noqa: F401  (load_train_dataset: part of this API)
    check_trainable_rows,
    load_train_dataset,
)
from reasoning_distill.training.reporting import prepare_report_to

logger = logging.getLogger(__name__)


def load_causal_lm(model_path_or_model: Any, model_args=None):
    """A causal LM from a folder (or the given object, as it is).

    Without `model_args` (a `trl.ModelConfig`): float32 with eager attention (faster than SDPA
    for tiny models on a CPU). With it, its `dtype` and `attn_implementation` (SDPA on a GPU
    when unset).
    """
    import torch
    from transformers import AutoModelForCausalLM

    if not isinstance(model_path_or_model, (str, Path)):
        return model_path_or_model
    path = Path(model_path_or_model)
    if not (path / "config.json").is_file():
        raise InputError(f"no model checkpoint at {path} (config.json missing)")
    dtype: Any = torch.float32
    attn = "eager"
    if model_args is not None:
        if model_args.dtype not in (None, "auto"):
            dtype = getattr(torch, model_args.dtype)
        elif model_args.dtype == "auto":
            dtype = "auto"
        attn = model_args.attn_implementation or ("sdpa" if torch.cuda.is_available() else "eager")
    return AutoModelForCausalLM.from_pretrained(str(path), attn_implementation=attn, dtype=dtype)


def load_tokenizer(tokenizer: Any, model_path: Any = None):
    """The tokenizer object, loading it from a path (or from `model_path` when None)."""
    from transformers import AutoTokenizer

    if tokenizer is None:
        if not isinstance(model_path, (str, Path)):
            raise ConfigError("pass a tokenizer when the model is given as an object")
        tokenizer = model_path
    if isinstance(tokenizer, (str, Path)):
        try:
            return AutoTokenizer.from_pretrained(str(tokenizer))
        except OSError as e:  # no such folder, or a Hub id that cannot be fetched (offline)
            raise InputError(f"cannot load the tokenizer {tokenizer}: {e}".splitlines()[0]) from e
    return tokenizer


def check_chat_template(tokenizer, config: StudentSFTConfig, column_names: list[str]) -> None:
    """Fail early, naming the fix, when assistant-only loss cannot work on this data."""
    from reasoning_distill.training.check import training_template

    if not config.assistant_only_loss:
        return
    if "messages" not in column_names:
        raise ConfigError(
            f"assistant_only_loss=True needs a conversational dataset with a 'messages' column; "
            f"this one has columns {column_names}. Convert it to messages, or set "
            f"assistant_only_loss=False (prompt/completion datasets train on the completion anyway)."
        )
    _, note, problem = training_template(tokenizer, config.chat_template_path)
    if problem:
        raise ConfigError(problem)
    if note:
        logger.info("%s", note)


def check_assistant_mask(trainer, n: int = 8) -> dict[str, int]:
    """Collate a real batch and check its labels (see `check.check_batch`)."""
    from reasoning_distill.training.check import check_batch, stop_token_id

    ds = trainer.train_dataset
    batch = trainer.data_collator([ds[i] for i in range(min(n, len(ds)))])
    tok = trainer.processing_class
    template = trainer.chat_template or tok.chat_template
    if not template or trainer.args.packing:  # packed rows: the pre-flight checked the rows
        return check_batch(batch, tok, None)
    stop = stop_token_id(tok, template)
    if stop is None:
        raise ConfigError(
            "no EOS is trained: the chat template's assistant mask ends on plain content, so "
            "the student would never learn to stop. Put the end-of-turn token inside "
            "{% endgeneration %}"
        )
    return check_batch(batch, tok, stop, trainer.args.max_length)


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
    from jinja2 import TemplateError
    from transformers.trainer_callback import PrinterCallback

    from reasoning_distill.training.check import template_failure

    if config.torch_num_threads is not None:
        torch.set_num_threads(config.torch_num_threads)
    check_chat_template(tokenizer, config, list(dataset.column_names))
    args = replace(config, output_dir=str(run_dir), report_to=prepare_report_to(config.report_to))
    # TRL writes a chat_template_path .jinja into the tokenizer; the saved student keeps its own.
    inference_template = tokenizer.chat_template
    try:
        trainer = trainer_cls(
            model=model, args=args, train_dataset=dataset, processing_class=tokenizer, **kwargs
        )
        trainer.inference_chat_template = inference_template
        # With disable_tqdm the Trainer swaps its progress bar for PrinterCallback, which
        # print()s every log dict; library code never prints (the losses are in log_history).
        trainer.remove_callback(PrinterCallback)
        if config.assistant_only_loss:
            check_assistant_mask(trainer)
    except TemplateError as e:  # TRL renders every row while it tokenises the dataset
        raise ConfigError(template_failure("the training data", e)) from e
    return trainer


def _resume_point(run_dir: Path, config: StudentSFTConfig) -> str | None:
    """The checkpoint to resume from, or None; refuses to mix a new run into an old one.

    Resuming, checkpoints whose save was cut short (a kill mid-save) are passed over, saying
    which: the newest complete one is used.
    """
    if not config.resume:
        if checkpoints(run_dir):
            raise OutputError(
                f"{run_dir} holds checkpoints of an earlier run ({checkpoints(run_dir)[0].name}): "
                f"pass --resume true to continue it, or choose a new output_dir"
            )
        return None
    last, skipped = last_complete_checkpoint(run_dir)
    for path, problem in skipped:
        logger.warning("resume: skipping the incomplete %s (%s)", path, problem)
    if last is None:
        logger.info("resume: no complete checkpoint-N in %s, starting from the beginning", run_dir)
        return None
    logger.info("resuming from %s", last)
    return str(last)


def align_generation_eos(trainer) -> None:
    """Make the model's generation config stop on the token the template ends turns with.

    The student was trained to end its turns with that token; `generate` and vLLM stop on the
    generation config's `eos_token_id`, so without it there a student can run on to the limit.
    """
    from reasoning_distill.training.check import stop_token_id

    tok = trainer.processing_class
    template = trainer.chat_template or tok.chat_template
    if not template or not trainer.args.assistant_only_loss:
        return
    stop = stop_token_id(tok, template)
    model = trainer.accelerator.unwrap_model(trainer.model)
    gen = getattr(model, "generation_config", None)
    if stop is None or gen is None:
        return
    eos = gen.eos_token_id
    eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    if stop not in eos:
        gen.eos_token_id = [stop, *eos]
        logger.info(
            "generation config: eos_token_id %s -> %s (the template's end of turn)",
            eos,
            gen.eos_token_id,
        )


def run_trainer(trainer, tokenizer, run_dir: Path, config: StudentSFTConfig) -> TrainResult:
    """Train (resuming when asked), save `final/` atomically, write `train_log.json`."""
    import time

    resume_from = _resume_point(run_dir, config)
    start = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=resume_from)
    runtime = time.perf_counter() - start
    align_generation_eos(trainer)
    original = getattr(trainer, "inference_chat_template", None)
    if original:
        tokenizer.chat_template = original
    final = save_final(trainer, tokenizer, run_dir)
    result = result_from_log_history(
        final,
        trainer.state.log_history,
        steps=int(trainer.state.global_step),
        train_runtime_s=float(output.metrics.get("train_runtime", runtime)),
        window=config.loss_window,
        world_size=int(trainer.args.world_size),
    )
    if trainer.accelerator.is_main_process:
        write_result(result, run_dir)
    trainer.accelerator.wait_for_everyone()
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
    output_dir: str | Path | None = None,
    config: StudentSFTConfig | None = None,
    callbacks: list | None = None,
    model_args=None,
) -> TrainResult:
    """SFT a student for exactly `config.max_steps` steps and save it to `output_dir/final`.

    Args:
        model_path_or_model: a checkpoint folder or a loaded causal LM (trained in place).
        tokenizer: a tokenizer, a folder to load it from, or None (load from the model folder).
        train_dataset: a `datasets.Dataset`, a `save_to_disk` folder or a JSONL file, with a
            `messages` column (assistant-only loss) or TRL's text / prompt-completion columns.
        output_dir: the run folder (default: `config.output_dir`): checkpoints, `final/`,
            `train_log.json`.
        config: a `StudentSFTConfig` (`skip_check`, `resume` and the rest).
        callbacks: extra `transformers.TrainerCallback`s (progress reporting, say).
        model_args: a `trl.ModelConfig`: dtype, attention, and LoRA when `use_peft`.
    Raises:
        ConfigError: the pre-flight found problems (listed), or a config value is bad.
    """
    from reasoning_distill.training.student_trainer import StudentSFTTrainer

    config = config or StudentSFTConfig()
    run_dir = check_run_dir(output_dir or config.output_dir)
    with quiet_progress(bool(config.disable_tqdm)):
        tokenizer = load_tokenizer(tokenizer, model_path_or_model)
        dataset = load_train_dataset(train_dataset)
        check_trainable_rows(dataset, train_dataset, config.assistant_only_loss)
        config = with_model_context(config, model_path_or_model)
        if not config.skip_check:
            run_preflight(model_path_or_model, tokenizer, dataset, config)
        model = load_causal_lm(model_path_or_model, model_args)
        claim_run_dir(run_dir)
        peft_config = None
        if model_args is not None and model_args.use_peft:
            from trl import get_peft_config

            peft_config = get_peft_config(model_args)
        trainer = build_trainer(
            StudentSFTTrainer,
            model,
            tokenizer,
            dataset,
            run_dir,
            config,
            callbacks=callbacks,
            peft_config=peft_config,
        )
        return run_trainer(trainer, tokenizer, run_dir, config)


def model_context(model_path_or_model: Any) -> int | None:
    """The model's context length from its config (no weights loaded)."""
    from transformers import AutoConfig

    if isinstance(model_path_or_model, (str, Path)):
        try:
            cfg = AutoConfig.from_pretrained(str(model_path_or_model))
        except OSError as e:
            raise InputError(
                f"cannot load the model config of {model_path_or_model}: {e}".splitlines()[0]
            ) from e
    else:
        cfg = model_path_or_model.config
    return getattr(cfg.get_text_config(), "max_position_embeddings", None)


def with_model_context(config: StudentSFTConfig, model_path_or_model: Any) -> StudentSFTConfig:
    """`config` with `max_length=None` made the model's context (unless padding-free without
    packing, where TRL needs None)."""
    if config.max_length is not None or (config.padding_free and not config.packing):
        return config
    context = model_context(model_path_or_model)
    if context is None:
        return config
    logger.info("max_length unset: using the model's context, %d tokens", context)
    return replace(config, max_length=context)


def run_preflight(model_path_or_model, tokenizer, dataset, config, teacher=None):
    """Run the pre-flight check; raise `ConfigError` listing its problems."""
    from reasoning_distill.training.check import preflight

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


def parse_args(argv: list[str] | None):
    """`(SFTScriptArguments, StudentSFTConfig, ModelConfig)` from flags and `--config`."""
    from trl import ModelConfig

    from reasoning_distill.training.config import SFTScriptArguments, parse_config_args

    return parse_config_args(
        [SFTScriptArguments, StudentSFTConfig, ModelConfig], argv, prog="rdistill train sft"
    )


def main(argv: list[str] | None = None) -> int:
    """`rdistill train sft --config RECIPE.yaml [--field value ...]`: check, train, summary."""
    import sys

    from reasoning_distill.training.check import is_main_process, preflight, print_report

    script, config, model_args = parse_args(sys.argv[1:] if argv is None else argv)
    if not model_args.model_name_or_path:
        raise ConfigError("set model_name_or_path (a flag or a recipe key)")
    check_run_dir(config.output_dir)  # a folder that is not ours: refused before any work
    with quiet_progress(bool(config.disable_tqdm)):
        dataset = load_train_dataset(
            script.dataset_name, script.dataset_config, script.dataset_train_split
        )
    check_trainable_rows(dataset, script.dataset_name, config.assistant_only_loss)
    if not config.skip_check:
        with quiet_progress(True):
            tokenizer = load_tokenizer(script.tokenizer_name_or_path, model_args.model_name_or_path)
            config = with_model_context(config, model_args.model_name_or_path)
            report = preflight(model_args.model_name_or_path, tokenizer, dataset, config)
        print_report(report)
        refuse_unready(report)
        config = replace(config, skip_check=True)
    result = train_sft(
        model_args.model_name_or_path,
        script.tokenizer_name_or_path,
        dataset,
        config.output_dir,
        config,
        model_args=model_args,
    )
    if is_main_process():
        summary = {
            "checkpoint": str(result.checkpoint),
            "steps": result.steps,
            "first_loss": round(result.first_loss, 4),
            "last_loss": round(result.last_loss, 4),
            "train_runtime_s": round(result.train_runtime_s, 1),
        }
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
