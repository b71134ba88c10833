"""A minimal causal-LM training loop for building the toy teacher.

The toy teacher is part of the miniature world, not a product stage: it is trained here with
a plain loop on gold traces (assistant tokens only) because that is the fastest way to make a
decent reasoner on a CPU. Students are trained by `reasoning_distill.training` (TRL).
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence

from reasoning_distill.progress import Progress, ensure

logger = logging.getLogger(__name__)


def encode_chat(tokenizer, messages: Sequence[dict[str, str]]) -> tuple[list[int], list[int]]:
    """Token ids of a prompt + assistant reply and labels that train only on the reply."""
    prompt = tokenizer.apply_chat_template(
        list(messages[:-1]), tokenize=False, add_generation_prompt=True
    )
    full = tokenizer.apply_chat_template(list(messages), tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("chat template renders the prompt differently with the reply")
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    r_ids = tokenizer(full[len(prompt) :].rstrip("\n"), add_special_tokens=False)["input_ids"]
    return p_ids + r_ids, [-100] * len(p_ids) + r_ids


def train_causal_lm(
    model,
    examples: Sequence[tuple[list[int], list[int]]],
    steps: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    warmup: int = 50,
    seed: int = 0,
    pad_id: int = 0,
    progress: Progress | None = None,
) -> list[float]:
    """Train `model` in place for `steps` AdamW steps; returns the loss of every step.

    The loop is single-process: for a model this small, DDP's gradient exchange costs more than
    the second process's compute gains, and its loss at equal steps is worse.
    """
    import torch

    rng = random.Random(seed)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        frac = (step - warmup) / max(1, steps - warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model.train()
    losses: list[float] = []
    order: list[int] = []
    with ensure(progress).task("training teacher", total=steps) as task:
        for _ in range(steps):
            if len(order) < batch_size:
                order = list(range(len(examples)))
                rng.shuffle(order)
            idx, order = order[:batch_size], order[batch_size:]
            batch = [examples[i] for i in idx]
            width = max(len(ids) for ids, _ in batch)
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (x, y) in enumerate(batch):
                ids[row, : len(x)] = torch.tensor(x)
                labels[row, : len(y)] = torch.tensor(y)
                mask[row, : len(x)] = 1
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
            task.advance(1, loss=losses[-1])
    model.eval()
    return losses
