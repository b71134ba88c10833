"""Supervised fine-tuning of a student on a `messages` dataset, on top of TRL's `SFTTrainer`.

`StudentSFTTrainer` is TRL's `SFTTrainer` with a plain-logits loss for small vocabularies. TRL
1.16 always computes the SFT loss through its chunked fused LM head, which never builds the
(B, T, V) logits: a large saving at V = 150k, but with a vocabulary of a few hundred tokens on
a CPU its tiling costs more than the logits themselves (see benchmarks/bench_train_overhead.py).
With `fused_lm_head=False` (the default below 32k tokens) this trainer computes the same
next-token cross-entropy from full logits, normalised like TRL's: per trained token over the
whole accumulated batch of every rank (`num_items_in_batch`), times the number of ranks because
DDP averages gradients over them. Dataset preparation, assistant masks, packing, collation,
logging and saving stay TRL's. With Liger kernels the loss is always TRL's (Liger fuses the
head itself). It also logs `tokens_per_second` (all ranks, real tokens, between two logging
steps). The class is the base of the distillation trainer (`distill_trainer.py`).

`train_sft` is the whole stage: run the pre-flight (`preflight.py`) before any weights load
(unless `skip_check`: a command that ran it already), load (or take) the model, check the
assistant-only mask on a real batch, train for exactly `config.max_steps` optimiser steps
(resuming from the newest checkpoint with `resume`), save the final model atomically to
`output_dir/final` with its original inference chat template and a generation config that
stops on the template's end-of-turn token, and return a `TrainResult`. It is a plain top-level
function of picklable arguments, so it runs in a `spawn` child process (two trainings on two
cores). Its command line is `scripts/sft.py` (`rdistill train sft`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from trl import SFTTrainer

from reasoning_distill.errors import ConfigError, OutputError
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
from reasoning_distill.training.data import (
    check_trainable_rows,
    load_causal_lm,
    load_tokenizer,
    load_train_dataset,
    quiet_progress,
    with_model_context,
)
from reasoning_distill.training.losses import IGNORE_INDEX, shift_labels
from reasoning_distill.training.preflight import run_preflight
from reasoning_distill.training.reporting import prepare_report_to
from reasoning_distill.training.sft_config import StudentSFTConfig
from reasoning_distill.training.truncated import (
    COLUMN,
    mask_truncated_ends,
    refuse_packing_truncated,
    truncated_row_indices,
)

logger = logging.getLogger(__name__)

FUSED_HEAD_MIN_VOCAB = 32768


class StudentSFTTrainer(SFTTrainer):
    """SFTTrainer whose training loss can come from full logits (see the module docstring)."""

    _last_log: tuple[float, int] | None = None

    def use_fused_head(self) -> bool:
        if getattr(self.args, "use_liger_kernel", False):
            return True
        choice = getattr(self.args, "fused_lm_head", None)
        if choice is None:
            return self.model.config.get_text_config().vocab_size >= FUSED_HEAD_MIN_VOCAB
        return bool(choice)

    def student_logits(self, model, inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's full logits (B, T, V) and next-token-aligned labels (B, T)."""
        model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
        model_inputs["use_cache"] = False
        return model(**model_inputs).logits, shift_labels(inputs["labels"])

    def token_denominator(self, mask: torch.Tensor, num_items_in_batch) -> torch.Tensor:
        """What a summed token loss is divided by, under `Trainer.training_step`'s contract.

        With `num_items_in_batch` (trained tokens over all accumulated micro-batches and, with
        `average_tokens_across_devices`, over all ranks) the loss is not divided again by the
        accumulation steps; as DDP then averages gradients over ranks, the denominator is
        divided by their number, so every trained token of the global batch weighs the same.
        Without it, a per-micro-batch mean.
        """
        if num_items_in_batch is not None and self.model_accepts_loss_kwargs:
            denom = torch.as_tensor(num_items_in_batch, device=mask.device, dtype=torch.float32)
            if self.args.average_tokens_across_devices:
                denom = denom / (self.accelerator.num_processes // self.get_tp_size())
            return denom.clamp_min(1e-8)
        return mask.sum().clamp_min(1)

    def record_metrics(self, inputs, logits: torch.Tensor, target: torch.Tensor, **extra) -> None:
        """Token accuracy, token count and any `extra` scalars, averaged by SFTTrainer.log."""
        mask = target != IGNORE_INDEX
        local = torch.stack(
            [
                mask.sum(),
                ((logits.detach().argmax(-1) == target) & mask).sum(),
                _real_tokens(inputs),
            ]
        )
        n, correct, tokens = (
            int(x) for x in self.accelerator.gather_for_metrics(local[None]).sum(0)
        )
        metrics = self._metrics["train"]
        metrics["mean_token_accuracy"].append(correct / n if n else 0.0)
        for key, value in extra.items():
            metrics[key].append(float(value))
        self._total_train_tokens += tokens // self._tp_size
        metrics["num_tokens"] = [self._total_train_tokens]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.use_fused_head() or not model.training:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        logits, target = self.student_logits(model, inputs)
        mask = target != IGNORE_INDEX
        ce = F.cross_entropy(
            logits.float().flatten(0, 1),
            target.flatten(),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
        loss = ce / self.token_denominator(mask, num_items_in_batch)
        self.record_metrics(inputs, logits, target)
        return (loss, {"logits": logits}) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if self.model is not None and self.model.training and "loss" in logs:
            now, tokens = time.perf_counter(), self._total_train_tokens
            if self._last_log is not None and now > self._last_log[0]:
                logs["tokens_per_second"] = (tokens - self._last_log[1]) / (now - self._last_log[0])
            self._last_log = (now, tokens)
        super().log(logs, start_time)


def _real_tokens(inputs) -> torch.Tensor:
    """Non-pad tokens of a batch (padding-free batches have no attention mask: all are real)."""
    if "attention_mask" in inputs:
        return inputs["attention_mask"].sum()
    return torch.tensor(inputs["input_ids"].numel(), device=inputs["input_ids"].device)


def check_chat_template(tokenizer, config: StudentSFTConfig, column_names: list[str]) -> str | None:
    """The template to train with; fail early, naming the fix, when assistant-only loss cannot
    work on this data. None without assistant-only loss (the tokenizer's own is used)."""
    from reasoning_distill.training.templates import training_template

    if not config.assistant_only_loss:
        return None
    if "messages" not in column_names:
        raise ConfigError(
            f"assistant_only_loss=True needs a conversational dataset with a 'messages' column; "
            f"this one has columns {column_names}. Convert it to messages, or set "
            f"assistant_only_loss=False (prompt/completion datasets train on the completion anyway)."
        )
    template, note, problem = training_template(tokenizer, config.chat_template_path)
    if problem:
        raise ConfigError(problem)
    if note:
        logger.info("%s", note)
    return template


def closing_token_ids(trainer) -> list[int]:
    """The tokens that end an assistant turn: the template's trained stop token and the EOS."""
    from reasoning_distill.training.templates import stop_token_id

    tok = trainer.processing_class
    ids = {tok.eos_token_id}
    if trainer.args.eos_token:
        ids.add(tok.convert_tokens_to_ids(trainer.args.eos_token))
    template = trainer.chat_template or tok.chat_template
    if template and trainer.args.assistant_only_loss:
        ids.add(stop_token_id(tok, template))
    return sorted(i for i in ids if i is not None)


def check_assistant_mask(trainer, n: int = 8) -> dict[str, int]:
    """Collate a real batch and check its labels (see `check.check_batch`)."""
    from reasoning_distill.training.check import check_batch
    from reasoning_distill.training.templates import stop_token_id

    ds = trainer.train_dataset
    rows = [ds[i] for i in range(min(n, len(ds)))]
    cut = truncated_row_indices(rows)  # cut off: trained without their end of turn
    batch = trainer.data_collator([{k: v for k, v in r.items() if k != COLUMN} for r in rows])
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
    return check_batch(batch, tok, stop, trainer.args.max_length, skip_rows=cut)


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
    template = check_chat_template(tokenizer, config, list(dataset.column_names))
    refuse_packing_truncated(dataset, bool(config.packing))
    args = replace(config, output_dir=str(run_dir), report_to=prepare_report_to(config.report_to))
    # TRL writes a chat_template_path .jinja into the tokenizer; the saved student keeps its own.
    inference_template = tokenizer.chat_template
    if template is not None:
        # The variant this package recognises and TRL does not (it matches exact text): TRL
        # trains with a marked template the tokenizer holds, as the teacher cache tokenises.
        tokenizer.chat_template = template
    try:
        trainer = trainer_cls(
            model=model, args=args, train_dataset=dataset, processing_class=tokenizer, **kwargs
        )
        trainer.inference_chat_template = inference_template
        # With disable_tqdm the Trainer swaps its progress bar for PrinterCallback, which
        # print()s every log dict; library code never prints (the losses are in log_history).
        trainer.remove_callback(PrinterCallback)
        trainer.train_dataset = mask_truncated_ends(
            trainer.train_dataset, tokenizer, closing_token_ids(trainer)
        )
        if config.assistant_only_loss:
            check_assistant_mask(trainer)
    except TemplateError as e:  # TRL renders every row while it tokenises the dataset
        tokenizer.chat_template = inference_template
        raise ConfigError(template_failure("the training data", e)) from e
    except BaseException:
        tokenizer.chat_template = inference_template
        raise
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
    from reasoning_distill.training.templates import stop_token_id

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


def _tied_keys_expected_on_resume(trainer) -> None:
    """A checkpoint of a model whose head is tied to its embeddings rightly leaves the tied
    copy out; transformers' Trainer (5.x) then warns 'missing keys ... lm_head.weight' on
    resume, since it compares the missing keys with `_keys_to_ignore_on_save`, not with the
    tied ones. Name the tied keys there (where the model names none), so that it re-ties them
    without the false alarm; any other missing key still warns."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    tied = getattr(model, "all_tied_weights_keys", None)
    ignored = getattr(model, "_keys_to_ignore_on_save", None)
    if tied and isinstance(ignored, set) and not ignored:
        model._keys_to_ignore_on_save = set(tied)


def _finished(trainer, checkpoint: str) -> bool:
    """Whether `checkpoint` is the run's last step; if so, its weights and state are loaded.

    transformers' loop runs one step before it checks the step count, so resuming from the
    last checkpoint (a run killed after its end, before its results were read) would train a
    step past `max_steps` and change the student. Only runs counted in steps are checked.
    """
    from transformers import TrainerState

    wanted = int(trainer.args.max_steps)  # a larger max_steps than the checkpoint's trains on
    state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
    if not 0 < wanted <= state.global_step:
        return False
    trainer._load_from_checkpoint(checkpoint)
    trainer.state = state
    logger.info("%s is step %d of %d: nothing left to train", checkpoint, state.global_step, wanted)
    return True


def run_trainer(trainer, tokenizer, run_dir: Path, config: StudentSFTConfig) -> TrainResult:
    """Train (resuming when asked), save `final/` atomically, write `train_log.json`."""
    import time

    resume_from = _resume_point(run_dir, config)
    if resume_from:
        _tied_keys_expected_on_resume(trainer)
    start = time.perf_counter()
    if resume_from and _finished(trainer, resume_from):
        metrics = {}
    else:
        metrics = trainer.train(resume_from_checkpoint=resume_from).metrics
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
        train_runtime_s=float(metrics.get("train_runtime", runtime)),
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
