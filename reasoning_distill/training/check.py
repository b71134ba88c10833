"""Pre-flight of a training stage: what the student will really be trained on, before GPU hours.

`rdistill train check --config RECIPE.yaml` runs it alone; `train sft` (and the KL stage) run it
first unless `skip_check` is set. It loads the tokenizer, the dataset and the model's config
files, never the weights, and fails (exit 1, with the list) when:

- the chat template has no `{% generation %}` markers and no training variant is known for it
  (a known template is swapped for TRL's variant or the package's, and the report says so; see
  `templates.py`), or it raises while
  rendering a row or the probe turn (the finding quotes the template's own error);
- the template drops the `<think>` block from assistant turns (the R1-Distill inference template
  keeps only what follows `</think>`, which silently removes the reasoning from the target),
  with or without assistant-only loss (without it, every token of the row is trained);
- the assistant mask of a real sample misses the think block, the answer or the EOS;
- the template ends an assistant turn with a token that is not trained (the student never
  learns to stop), or that differs from the tokenizer's EOS or the generation config's;
- the tokenizer has more ids than the model's embedding has rows (`vocab_size`);
- the model's context is shorter than `max_length`, or more than `max_truncated_share` of the
  samples is longer than `max_length` (it says how many, and the length that keeps 99%);
- for the KL stage, teacher and student map tokens to ids differently. Output matrices padded
  to different sizes over one tokenizer (Qwen2.5-3B has 151,936 rows, Qwen2.5-72B 152,064) are
  not a mismatch: ids are compared over the tokenizer, and the logits beyond it are padding.

`check_view.py` renders one real sample with the trained tokens marked (rich), with counts
per part.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field

from jinja2 import TemplateError

from reasoning_distill.errors import ConfigError
from reasoning_distill.training.templates import (
    render,
    stop_token_id,
    template_text,
    training_template,
)

logger = logging.getLogger(__name__)

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
PARTS = ("think", "answer", "eos")


# The conversation `stop_token_id` renders to find the token a turn ends with.
PROBE = "a probe conversation (user 'hi', assistant 'ok' without a think block, user 'bye')"


class RowTemplateError(Exception):
    """The chat template raised while rendering dataset row `row`."""

    def __init__(self, row: int, error: Exception) -> None:
        super().__init__(f"row {row}: {error}")
        self.row, self.error = row, error


def template_failure(what: str, error: Exception) -> str:
    """The finding for a chat template that raises: where, and the template's own message."""
    return (
        f"the chat template raised an error rendering {what}: {type(error).__name__}: {error}. "
        f"A training template must render every conversation, including turns without a "
        f"think block: fix it (or chat_template_path)"
    )


@dataclass
class SampleView:
    """One dataset row as the trainer sees it: tokens, which are trained, and what each is."""

    row: int
    pieces: list[str]  # the text of each token
    trained: list[bool]
    kinds: list[str]  # "prompt", "think", "answer", "eos" or "other" (role headers)
    counts: dict[str, int]  # trained tokens per kind


@dataclass
class CheckReport:
    """What the pre-flight found; `ok` when `problems` is empty."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sample: SampleView | None = None
    training_template: str | None = None  # the template the trainer tokenises with
    stop_token_id: int | None = None  # the trained token that ends an assistant turn

    @property
    def ok(self) -> bool:
        return not self.problems


def _token_spans(tokenizer, ids: list[int]) -> list[tuple[int, int]]:
    """Character span of each token in the decoded text (byte-level pieces may be empty)."""
    spans, pos = [], 0
    text = ""
    for i in range(len(ids)):
        # Decoding the prefix keeps multi-byte characters whole where single tokens cannot.
        new = tokenizer.decode(ids[: i + 1], skip_special_tokens=False)
        start = min(pos, len(new))
        spans.append((start, len(new)))
        pos, text = len(new), new
    del text
    return spans


def inspect_sample(
    tokenizer,
    messages: list[dict],
    template: str,
    stop_id: int | None,
    row: int,
    train_all: bool = False,
):
    """Tokenise one row as the trainer does and say, token by token, what is trained (every
    token with `train_all`: no assistant-only loss)."""
    out = render(tokenizer, messages, template)
    ids = list(out["input_ids"])
    mask = [True] * len(ids) if train_all else [bool(m) for m in out["assistant_masks"]]
    text = tokenizer.decode(ids, skip_special_tokens=False)
    if len(ids) > 4096:  # prefix decoding is quadratic; long rows use per-token lengths
        spans, pos = [], 0
        for t in ids:
            n = len(tokenizer.decode([t], skip_special_tokens=False))
            spans.append((pos, pos + n))
            pos += n
    else:
        spans = _token_spans(tokenizer, ids)
    last = next((m for m in reversed(messages) if m.get("role") == "assistant"), None)
    content = (last or {}).get("content") or ""
    # Prompt spans: the content of every non-assistant message, found in order.
    prompt_spans, cursor = [], 0
    for m in messages:
        body = (m.get("content") or "").strip()
        if m.get("role") != "assistant" and body and (k := text.find(body, cursor)) >= 0:
            prompt_spans.append((k, k + len(body)))
            cursor = k + len(body)
    think = answer = None
    answer_text = content.strip()
    if THINK_CLOSE in content:
        before, after = content.split(THINK_CLOSE, 1)
        inner = before.split(THINK_OPEN, 1)[-1].strip()
        k = text.rfind(inner) if inner else -1
        if k >= 0:
            opened = text.rfind(THINK_OPEN, 0, k + 1)
            closed = text.find(THINK_CLOSE, k + len(inner))
            end = closed + len(THINK_CLOSE) if closed >= 0 else k + len(inner)
            think = (opened if opened >= 0 else k, end)
        answer_text = after.strip()
    if answer_text and (k := text.rfind(answer_text)) >= 0:
        answer = (k, k + len(answer_text))
    turn_start = min((s[0] for s in (think, answer) if s), default=len(text))
    kinds = []
    for t, (a, b) in zip(ids, spans, strict=True):
        mid = (a + b - 1) / 2 if b > a else a
        if stop_id is not None and t == stop_id and a >= turn_start:
            kinds.append("eos")
        elif think and think[0] <= mid < think[1]:
            kinds.append("think")
        elif answer and answer[0] <= mid < answer[1]:
            kinds.append("answer")
        elif any(p0 <= mid < p1 for p0, p1 in prompt_spans):
            kinds.append("prompt")
        else:
            kinds.append("other")
    counts = {k: sum(1 for k2, m in zip(kinds, mask, strict=True) if m and k2 == k) for k in PARTS}
    counts["prompt"] = sum(1 for k, m in zip(kinds, mask, strict=True) if m and k == "prompt")
    counts["total_trained"] = sum(mask)
    counts["tokens"] = len(ids)
    pieces = [text[a:b] for a, b in spans]
    return SampleView(row, pieces, mask, kinds, counts), think is not None


def sample_lengths(tokenizer, dataset, template: str | None, limit: int, seed: int = 0):
    """Token lengths of up to `limit` rows (a seeded random subset of a larger dataset)."""
    n = len(dataset)
    rows = list(range(n)) if n <= limit else sorted(random.Random(seed).sample(range(n), limit))
    texts = []
    for i in rows:
        try:
            texts.append(
                tokenizer.apply_chat_template(
                    dataset[i]["messages"], tokenize=False, chat_template=template
                )
            )
        except TemplateError as e:
            raise RowTemplateError(i, e) from e
    enc = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [len(e) for e in enc]


def _as_list(ids) -> list[int]:
    if ids is None:
        return []
    return [ids] if isinstance(ids, int) else list(ids)


def check_sft(
    tokenizer,
    dataset,
    config,
    model_config=None,
    generation_config=None,
    sample_row: int = 0,
    max_rows: int = 5000,
) -> CheckReport:
    """Check an SFT run before any weights load (see the module docstring for what is checked).

    `config` is a `StudentSFTConfig`; `model_config` / `generation_config` the model's
    `AutoConfig` / `GenerationConfig` when known (without them those checks are skipped).
    """
    report = CheckReport()
    problems, notes = report.problems, report.notes
    _check_embedding_rows(report, tokenizer, model_config)
    columns = list(dataset.column_names)
    if "messages" not in columns:
        if config.assistant_only_loss:
            problems.append(
                f"assistant_only_loss=True needs a 'messages' column; the dataset has {columns}: "
                f"convert it to messages, or set assistant_only_loss: false"
            )
        else:
            notes.append(f"no 'messages' column ({columns}): only the model context is checked")
        _check_context(report, config, model_config)
        return report

    if config.assistant_only_loss:
        template, note, problem = training_template(tokenizer, config.chat_template_path)
        if problem:
            problems.append(problem)
            _check_context(report, config, model_config)
            return report
        if note:
            notes.append(note)
    else:
        template = template_text(tokenizer.chat_template)
        notes.append("assistant_only_loss=False: prompts are trained too")
    report.training_template = template

    try:
        stop_id = stop_token_id(tokenizer, template) if config.assistant_only_loss else None
    except TemplateError as e:
        problems.append(template_failure(PROBE, e))
        _check_context(report, config, model_config)
        return report
    eos_name = config.eos_token or tokenizer.eos_token
    eos_id = tokenizer.convert_tokens_to_ids(eos_name) if eos_name else None
    if config.assistant_only_loss:
        if stop_id is None:
            problems.append(
                "no EOS is trained: the assistant mask ends on plain content, so the student "
                "never learns to stop. Put the end-of-turn token inside {% endgeneration %}"
            )
        else:
            report.stop_token_id = stop_id
            stop = tokenizer.convert_ids_to_tokens(stop_id)
            if eos_id != stop_id:
                problems.append(
                    f"EOS mismatch: the chat template ends assistant turns with {stop!r} (trained) "
                    f"but the tokenizer's eos_token is {eos_name!r}: set eos_token: {stop!r}"
                )
            if generation_config is not None:
                gen = set(_as_list(generation_config.eos_token_id))
                if config.eos_token:  # TRL adds it to the generation config
                    gen.add(eos_id)
                if stop_id not in gen:
                    names = tokenizer.convert_ids_to_tokens(sorted(gen)) if gen else []
                    problems.append(
                        f"EOS mismatch: generation_config.eos_token_id is {sorted(gen)} {names}, "
                        f"without the template's {stop!r}, so generation would not stop where "
                        f"the student stops: set eos_token: {stop!r}"
                    )

    # One real sample, rendered as the trainer tokenises it.
    row = min(max(sample_row, 0), len(dataset) - 1)
    messages = dataset[row]["messages"]
    try:
        view, think_kept = inspect_sample(
            tokenizer,
            messages,
            template,
            stop_id if config.assistant_only_loss else eos_id,
            row,
            train_all=not config.assistant_only_loss,
        )
    except TemplateError as e:
        problems.append(template_failure(f"row {row}", e))
        _check_context(report, config, model_config)
        return report
    report.sample = view
    # An empty think block (an answer-only dataset) has no reasoning to keep or to train.
    has_think = any(
        THINK_CLOSE in (c := m.get("content") or "")
        and c.partition(THINK_CLOSE)[0].replace(THINK_OPEN, "").strip()
        for m in messages
        if m.get("role") == "assistant"
    )
    if has_think and not think_kept:
        problems.append(
            f"the chat template strips the <think> block from assistant turns (row {row}): the "
            f"reasoning would be missing from the training target. Use a template that renders "
            f"the whole assistant content (TRL's training variants do)"
        )
    trained_parts = {
        "think": view.counts["think"],
        "answer": view.counts["answer"],
        "eos": view.counts["eos"],
    }
    missing = [p for p in PARTS if trained_parts[p] == 0 and (p != "think" or has_think)]
    if not config.assistant_only_loss:
        missing = [p for p in missing if p != "eos"]  # every token trains: no mask to miss it
    if missing and not (stop_id is None and missing == ["eos"]):
        problems.append(
            f"the loss mask of row {row} trains no {' / '.join(missing)} tokens "
            f"(trained: {trained_parts}): check the {{% generation %}} markers of the template"
        )
    if config.assistant_only_loss and view.counts["prompt"]:
        problems.append(
            f"the loss mask of row {row} trains {view.counts['prompt']} prompt tokens: the "
            f"{{% generation %}} block must cover only assistant turns"
        )

    _check_context(report, config, model_config)
    _check_lengths(report, tokenizer, dataset, template, config, max_rows)
    return report


def _check_embedding_rows(report: CheckReport, tokenizer, model_config) -> None:
    """Every id the tokenizer can emit needs a row of the model's embedding (an id past the
    last row is an IndexError in the first forward pass)."""
    rows = output_rows(model_config) if model_config is not None else None
    n = len(tokenizer)
    if rows is not None and rows < n:
        report.problems.append(
            f"the tokenizer has {n} ids but the model's embedding has {rows} rows (vocab_size): "
            f"ids from {rows} on have no embedding and training fails on the first such token. "
            f"Use the model's own tokenizer, or resize the embeddings to at least {n} first"
        )


def _check_context(report: CheckReport, config, model_config) -> None:
    if model_config is None or config.max_length is None:
        return
    text = model_config.get_text_config() if hasattr(model_config, "get_text_config") else None
    ctx = getattr(text or model_config, "max_position_embeddings", None)
    if ctx is not None and ctx < config.max_length:
        report.problems.append(
            f"the model's context is {ctx} tokens (max_position_embeddings) but max_length is "
            f"{config.max_length}: lower max_length, or extend the context (rope scaling) first"
        )


def _check_lengths(report: CheckReport, tokenizer, dataset, template, config, max_rows) -> None:
    try:
        lengths = sample_lengths(tokenizer, dataset, template, max_rows, seed=config.seed)
    except RowTemplateError as e:
        report.problems.append(template_failure(f"row {e.row}", e.error))
        return
    if not lengths:
        return
    ordered = sorted(lengths)
    keep99 = ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]
    measured = (
        f"{len(lengths)} rows"
        if len(lengths) == len(dataset)
        else f"{len(lengths)} of {len(dataset)} rows (a random subset)"
    )
    limit = config.max_length
    if limit is None:
        report.notes.append(f"lengths over {measured}: longest {ordered[-1]}, 99% <= {keep99}")
        return
    over = sum(1 for n in lengths if n > limit)
    share = over / len(lengths)
    summary = (
        f"{over} of {measured} ({share:.1%}) are longer than max_length={limit} and would be "
        f"truncated; max_length: {keep99} keeps 99% whole (longest {ordered[-1]})"
    )
    if share > config.max_truncated_share:
        report.problems.append(summary)
    else:
        report.notes.append(summary)


def output_rows(model_config) -> int | None:
    """Rows of a model's output matrix (its config's vocab_size), read without the weights."""
    text = model_config.get_text_config() if hasattr(model_config, "get_text_config") else None
    return getattr(text or model_config, "vocab_size", None)


def check_vocabularies(
    student_tokenizer,
    teacher_tokenizer,
    student_rows: int | None = None,
    teacher_rows: int | None = None,
) -> tuple[list[str], list[str]]:
    """`(problems, notes)` for a KL stage: the same token must have the same id in both.

    Compared token by token over the tokenizers' ids. Output matrices with more rows than the
    tokenizer has ids are padded (for kernel-friendly sizes): rows beyond `len(tokenizer)` are
    never a real token, so different padded sizes are not a mismatch, and a loss must slice
    both models' logits to `len(tokenizer)` before comparing distributions.
    """
    problems, notes = [], []
    sv, tv = student_tokenizer.get_vocab(), teacher_tokenizer.get_vocab()
    if sv != tv:
        differ = sorted(k for k in sv.keys() | tv.keys() if sv.get(k) != tv.get(k))
        problems.append(
            f"teacher and student vocabularies differ token by token ({len(tv)} vs {len(sv)} "
            f"tokens, {len(differ)} mapped to different ids, e.g. {differ[:5]}): a KL between "
            f"them compares unrelated tokens. Use one tokenizer for both"
        )
        return problems, notes
    n = len(student_tokenizer)
    for who, rows in (("student", student_rows), ("teacher", teacher_rows)):
        if rows is not None and rows < n:
            problems.append(
                f"the {who} outputs {rows} logits but the tokenizer has {n} ids: resize its "
                f"embeddings to at least {n}"
            )
    if not problems and student_rows and teacher_rows and student_rows != teacher_rows:
        notes.append(
            f"same tokenizer ({n} ids); the output matrices are padded to {student_rows} "
            f"(student) and {teacher_rows} (teacher) rows: not a mismatch, the logits are "
            f"compared over the tokenizer's {n} ids and the padding is sliced off"
        )
    elif not problems:
        notes.append(f"teacher and student share one vocabulary ({n} ids)")
    return problems, notes


def check_batch(
    batch,
    tokenizer,
    stop_id: int | None,
    max_length: int | None = None,
    skip_rows: set[int] | frozenset[int] = frozenset(),
) -> dict[str, int]:
    """On a collated batch: labels train some but not all tokens, and each row's EOS.

    An assistant mask can fail silently: all -100 (nothing learned), nothing masked (prompts
    learned as well), or the end-of-turn token left out (the student never stops; rows cut at
    `max_length` are not asked for it). Raises `ConfigError` naming the row.
    """
    labels = batch["labels"]
    attention = batch.get("attention_mask")
    real = attention.bool() if attention is not None else labels.new_ones(labels.shape).bool()
    trained_per_row = (labels != -100).sum(dim=1)
    if (trained_per_row == 0).any():
        bad = int((trained_per_row == 0).nonzero()[0, 0])
        raise ConfigError(
            f"the assistant mask is empty for row {bad} of the first batch: nothing would be "
            f"trained. Check the chat template's {{% generation %}} markers and that max_length "
            f"keeps the assistant turn"
        )
    trained, total = int(trained_per_row.sum()), int(real.sum())
    if trained >= total:
        raise ConfigError(
            f"assistant_only_loss=True but every one of {total} tokens in the first batch is "
            f"trained: the mask masks nothing (prompts would be learned too)"
        )
    if stop_id is not None:
        lengths = real.sum(dim=1)
        for i in range(labels.shape[0]):
            if max_length is not None and int(lengths[i]) >= max_length:
                continue  # truncated: its end is cut off (the pre-flight counts those)
            if i in skip_rows:
                continue  # a cut-off trace (finish_reason 'length'): its end is not trained
            if not bool((labels[i] == stop_id).any()):
                raise ConfigError(
                    f"row {i} of the first batch does not train the end-of-turn token "
                    f"{tokenizer.convert_ids_to_tokens(stop_id)!r}: it is outside the "
                    f"template's {{% generation %}} block"
                )
    logger.info("assistant mask: %d of %d tokens trained in the first batch", trained, total)
    return {"trained_tokens": trained, "total_tokens": total}
