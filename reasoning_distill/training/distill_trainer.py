"""The white-box stage: pull the student's next-token distributions toward a teacher's.

`DistillTrainer` minimises the configured divergence (reverse KL by default, the preferred
direction for white-box LLM distillation) on the trained tokens, plus an optional weighted
hard-label cross-entropy, against one of three teacher sources (see `distill_config` and `teachers/`): a local
checkpoint (full vocabulary), a top-k cache on disk, or a vLLM server. The loss is computed
from hidden states and head weights in chunks (`chunked_loss`), so neither model's (B, T, V)
logits are ever held: the stage fits at long context with a large vocabulary.

Modes: off-policy (teacher-forced on the dataset's traces), on-policy (the student samples a
completion for each prompt of the batch with its live weights, the teacher scores those
tokens) and mixed (a share `lmbda` of the steps on-policy). This follows TRL's GKD /
`DistillationTrainer` (same lmbda and beta conventions, teacher and student sharing one
vocabulary); what this stage adds: the divergence table including the skewed KLs, a cached
or served teacher whose tail mass stays in the loss as one bucket, a refusal of vocabularies
that differ in content (not only in size), an assistant-mask check, and exact step counts.

Teacher and student must share the tokenizer: a KL between two distributions over different
vocabularies is meaningless, and equal sizes alone do not make equal vocabularies, so the
vocabularies themselves are compared and a mismatch is refused.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from reasoning_distill.errors import ConfigError, InputError
from reasoning_distill.training.checkpoint import TrainResult, check_run_dir, prepare_run_dir
from reasoning_distill.training.chunked_loss import (
    chunked_cross_entropy,
    chunked_distillation_loss,
    chunked_topk_distillation_loss,
)
from reasoning_distill.training.data import (
    check_trainable_rows,
    load_causal_lm,
    load_tokenizer,
    load_train_dataset,
    quiet_progress,
)
from reasoning_distill.training.distill_config import DistillConfig
from reasoning_distill.training.kd_modes import is_on_policy_step, sample_on_policy
from reasoning_distill.training.losses import IGNORE_INDEX, reverse_kl_loss, shift_labels
from reasoning_distill.training.sft_trainer import StudentSFTTrainer, build_trainer, run_trainer
from reasoning_distill.training.teachers.local import stack_topk

logger = logging.getLogger(__name__)


def check_same_vocabulary(student_tokenizer, teacher_tokenizer, student=None, teacher=None) -> None:
    """Raise `ConfigError` (a ValueError) unless both tokenizers map the same strings to the
    same ids (and, when the models are given, both output the same number of logits)."""

    sv, tv = student_tokenizer.get_vocab(), teacher_tokenizer.get_vocab()
    if sv != tv:
        differ = sorted(k for k in sv.keys() | tv.keys() if sv.get(k) != tv.get(k))
        raise ConfigError(
            f"teacher and student vocabularies differ ({len(tv)} vs {len(sv)} tokens, "
            f"{len(differ)} strings mapped differently, e.g. {differ[:5]}): reverse KL needs "
            f"one shared tokenizer. Build the student with the teacher's tokenizer."
        )
    if student is not None and teacher is not None:
        s_out = student.get_output_embeddings().weight.shape[0]
        t_out = teacher.get_output_embeddings().weight.shape[0]
        if s_out != t_out:
            raise ConfigError(
                f"teacher and student output {t_out} and {s_out} logits although they share a "
                f"tokenizer: resize one model's embeddings to match"
            )


def _last_hidden(model, input_ids, attention_mask) -> torch.Tensor:
    """The final (normed) hidden states (B, T, H), computing the logits of one position only.

    Called through the (possibly DDP-wrapped) model's own forward, so data-parallel gradient
    synchronisation sees a normal forward pass.
    """
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        output_hidden_states=True,
        logits_to_keep=1,
        use_cache=False,
    )
    return out.hidden_states[-1]


class DistillTrainer(StudentSFTTrainer):
    """SFTTrainer whose training loss is a divergence to a frozen teacher (module docstring).

    `teacher_model`: a causal LM on the student's vocabulary; or `topk_teacher`: an object
    with `lookup(input_ids)` (a `TopKCache`) or `score(sequences)` (a `ServedTeacher`).
    """

    def __init__(self, *args, teacher_model=None, topk_teacher=None, **kwargs):
        super().__init__(*args, **kwargs)
        if (teacher_model is None) == (topk_teacher is None):
            raise ValueError("DistillTrainer needs exactly one of teacher_model and topk_teacher")
        self.teacher = None
        if teacher_model is not None:
            self.teacher = teacher_model.to(self.accelerator.device).eval().requires_grad_(False)
        self.topk_teacher = topk_teacher

    # -- the teacher's side -------------------------------------------------------------
    def _teacher_topk(self, input_ids, attention_mask, target) -> tuple[torch.Tensor, ...]:
        seqs = [input_ids[i, attention_mask[i].bool()].tolist() for i in range(input_ids.shape[0])]
        if hasattr(self.topk_teacher, "lookup"):
            found = []
            for i, s in enumerate(seqs):
                hit = self.topk_teacher.lookup(s)
                if hit is None:
                    raise InputError(
                        f"a training sequence ({len(s)} tokens, batch row {i}) is not in the "
                        f"teacher cache {self.topk_teacher.folder}: it was built from other "
                        f"data, another chat template or another max_length"
                    )
                topk, covered = hit
                need = (target[i, : len(s) - 1] != IGNORE_INDEX).cpu().numpy()
                if (need & ~covered[: len(need)]).any():
                    raise InputError(
                        f"the teacher cache {self.topk_teacher.folder} lacks trained positions "
                        f"of batch row {i}: it was built with another assistant mask"
                    )
                found.append(topk)
        else:
            found = self.topk_teacher.score(seqs)
        k = found[0].k
        arrays = stack_topk(found, input_ids.shape[1], k)
        device = input_ids.device
        return tuple(torch.from_numpy(a).to(device) for a in arrays)

    # -- the loss -----------------------------------------------------------------------
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not model.training:  # evaluation reports TRL's usual SFT loss
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        args = self.args
        input_ids, attention_mask = inputs["input_ids"], inputs["attention_mask"]
        labels = inputs["labels"]
        on_policy = is_on_policy_step(args.mode, args.lmbda, args.seed, self.state.global_step)
        if on_policy:
            unwrapped = self.accelerator.unwrap_model(model)
            tok = self.processing_class
            batch = sample_on_policy(
                unwrapped,
                input_ids,
                attention_mask,
                labels,
                max_new_tokens=args.max_new_tokens,
                temperature=args.generation_temperature,
                pad_token_id=tok.pad_token_id,
                eos_token_id=unwrapped.generation_config.eos_token_id or tok.eos_token_id,
            )
            input_ids, attention_mask, labels = batch.input_ids, batch.attention_mask, batch.labels
        target = shift_labels(labels)
        mask = target != IGNORE_INDEX
        # On-policy tokens are not the dataset's: the collator's global token count does not
        # describe them, so they are averaged per micro-batch (and accumulation divided here
        # exactly where the Trainer would not divide).
        if on_policy:
            denom = mask.sum().clamp_min(1)
            if num_items_in_batch is not None and self.model_accepts_loss_kwargs:
                denom = denom * self.current_gradient_accumulation_steps
        else:
            denom = self.token_denominator(mask, num_items_in_batch)
        hidden = _last_hidden(model, input_ids, attention_mask)
        head = self.accelerator.unwrap_model(model).get_output_embeddings().weight
        kw = {
            "divergence": args.divergence,
            "temperature": args.temperature,
            "beta": args.beta,
            "skew": args.skew,
            "chunk_size": args.chunk_size,
            "reduction": "sum",
        }
        if self.teacher is not None:
            with torch.no_grad():
                t_hidden = _last_hidden(self.teacher, input_ids, attention_mask)
            t_head = self.teacher.get_output_embeddings().weight
            kd_sum = chunked_distillation_loss(hidden, head, t_hidden, t_head, target, **kw)
        else:
            ids, lps, tail = self._teacher_topk(input_ids, attention_mask, target)
            kd_sum = chunked_topk_distillation_loss(hidden, head, ids, lps, tail, target, **kw)
        kd = kd_sum / denom
        scale = args.temperature**2 if args.hinton_scaling else 1.0
        alpha = args.alpha
        loss = (1 - alpha) * scale * kd if alpha < 1 else kd * 0.0
        ce_sum = None
        if alpha > 0:
            ce_sum = chunked_cross_entropy(hidden, head, target, args.chunk_size, reduction="sum")
            loss = loss + alpha * ce_sum / denom
        self._record(attention_mask, mask, kd_sum, ce_sum, on_policy)
        return (loss, {}) if return_outputs else loss

    def _record(self, attention_mask, mask, kd_sum, ce_sum, on_policy: bool) -> None:
        """Per-token divergence and CE of the step over all ranks (sums gathered, then one
        division), so a two-rank run logs what one process would."""
        parts = [kd_sum.detach().float(), mask.sum().float(), attention_mask.sum().float()]
        if ce_sum is not None:
            parts.append(ce_sum.detach().float())
        stats = self.accelerator.gather(torch.stack(parts).unsqueeze(0)).sum(dim=0).tolist()
        metrics = self._metrics["train"]
        tokens = max(stats[1], 1.0)
        metrics[self.args.divergence].append(stats[0] / tokens)
        if ce_sum is not None:
            metrics["ce"].append(stats[3] / tokens)
        metrics["on_policy"].append(float(on_policy))
        metrics["trained_tokens"].append(stats[1])
        self._total_train_tokens += int(stats[2])
        metrics["num_tokens"] = [self._total_train_tokens]


def _open_topk_teacher(config: DistillConfig, tokenizer):
    """The cache or served teacher named by `config`, checked against the student's tokenizer
    (and a served one reached once, so a wrong URL is said at once, not after the retries)."""
    if config.teacher_cache is not None:
        from reasoning_distill.training.teachers.cache import MANIFEST, check_cache_matches
        from reasoning_distill.training.templates import training_template

        # Matched by tokenisation: the vocabulary and the template the trainer will tokenise
        # with (a known inference template is swapped for its training variant), not the
        # template the student's tokenizer keeps for inference.
        template = None
        if config.assistant_only_loss:
            template = training_template(tokenizer, config.chat_template_path)[0]
        try:  # tokenizer, shards' checksums, no sequences: each one line, exit 2
            cache = check_cache_matches(config.teacher_cache, tokenizer, template)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(
                f"{Path(config.teacher_cache) / MANIFEST}: not valid JSON ({e}): the cache is "
                f"damaged; rebuild it"
            ) from e
        ident = cache.identity
        if ident.get("temperature") != config.temperature:
            raise ConfigError(
                f"the teacher cache {config.teacher_cache} holds log-probs at temperature "
                f"{ident.get('temperature')}, the config asks for {config.temperature}: the "
                f"tail bucket cannot be re-tempered, so use its temperature or rebuild it"
            )
        if len(cache) == 0:
            raise InputError(f"the teacher cache {config.teacher_cache} holds no sequences")
        return cache, f"cache {config.teacher_cache} (k={ident.get('k')})"
    from reasoning_distill.training.teachers.served import ServedTeacher

    served = ServedTeacher(config.teacher_url, config.teacher_name, k=config.top_k)
    served.check_reachable()
    return served, f"server {config.teacher_url} ({config.teacher_name}, k={config.top_k})"


def train_distill(
    student_path: str | Path,
    train_dataset: Any,
    output_dir: str | Path,
    config: DistillConfig,
    callbacks: list | None = None,
) -> TrainResult:
    """Distil the student at `student_path` toward the teacher that `config` names, for
    exactly `config.max_steps` steps; the model lands in `output_dir/final`.

    `train_dataset`: a Dataset, a save_to_disk folder or a JSONL file with a `messages`
    column. The result's `metrics` hold the divergence (under its name), `ce` (the dataset
    tokens' cross-entropy, logged on off-policy steps) and `on_policy` (1 for sampled steps).
    """

    if not isinstance(config, DistillConfig):
        raise TypeError(f"train_distill needs a DistillConfig, got {type(config).__name__}")
    teacher_path = config.teacher
    if teacher_path is None and config.teacher_cache is None and config.teacher_url is None:
        raise ConfigError("no teacher: set one of teacher, teacher_cache or teacher_url")
    for name in ("teacher", "teacher_cache"):
        where = getattr(config, name)
        if where is not None and not Path(where).exists():
            raise InputError(f"{name} {where}: no such folder")
    run_dir = check_run_dir(output_dir)
    with quiet_progress(bool(config.disable_tqdm)):
        dataset = load_train_dataset(train_dataset)
        check_trainable_rows(dataset, train_dataset, config.assistant_only_loss)
        tokenizer = load_tokenizer(None, student_path)
        kwargs: dict[str, Any] = {}
        if teacher_path is None:  # checked (and a server reached) before any weights load
            kwargs["topk_teacher"], described = _open_topk_teacher(config, tokenizer)
            logger.info("teacher: %s", described)
        else:
            check_same_vocabulary(tokenizer, load_tokenizer(None, teacher_path))
        student = load_causal_lm(student_path)
        if teacher_path is not None:
            teacher = load_causal_lm(teacher_path)
            check_same_vocabulary(tokenizer, tokenizer, student, teacher)
            kwargs["teacher_model"] = teacher
        prepare_run_dir(run_dir)
        trainer = build_trainer(
            DistillTrainer, student, tokenizer, dataset, run_dir, config,
            callbacks=callbacks, **kwargs,
        )  # fmt: skip
        return run_trainer(trainer, tokenizer, run_dir, config)


def mean_reverse_kl(
    student, teacher, tokenizer, rows: list[dict], temperature: float = 1.0
) -> float:
    """Reverse KL(student || teacher) per assistant token over `rows` (`messages` dicts).

    For reports and tests: how far a student is from its teacher on given data, teacher-forced.
    """
    total, count = 0.0, 0
    for row in rows:
        enc = tokenizer.apply_chat_template(
            row["messages"], tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        ids = torch.tensor([enc["input_ids"]])
        labels = ids.masked_fill(torch.tensor([enc["assistant_masks"]]) == 0, IGNORE_INDEX)
        target = shift_labels(labels)
        with torch.no_grad():
            s = student(input_ids=ids).logits
            t = teacher(input_ids=ids).logits
            total += float(reverse_kl_loss(s, t, target, temperature, reduction="sum"))
        count += int((target != IGNORE_INDEX).sum())
    return total / max(count, 1)
