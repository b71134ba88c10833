"""On-policy batches: the current student completes the batch's prompts, and those completions
become the tokens the distillation loss trains on.

The prompt of a row is everything before its first trained token (the assistant turn's start,
as the assistant-only mask marks it), so the student answers exactly the dataset's prompts
under the chat template the dataset was tokenised with. The student samples with the live
weights (`model.generate`, no copy, no weight sync): on a CPU that is the transformers engine's
own path, and it keeps on-policy samples exactly on-policy.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import torch

from reasoning_distill.training.losses import IGNORE_INDEX

logger = logging.getLogger(__name__)


def is_on_policy_step(mode: str, lmbda: float, seed: int, step: int) -> bool:
    """Whether optimiser step `step` trains on the student's own samples.

    mixed: a share `lmbda` of the steps, drawn from a generator seeded by (seed, step), so a
    resumed or repeated run picks the same steps, and every rank of a multi-process run agrees.
    """
    if mode == "on_policy":
        return True
    if mode == "off_policy":
        return False
    return random.Random(f"{seed}:{step}").random() < lmbda


@dataclass
class OnPolicyBatch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor  # unshifted: -100 on the prompt and on padding
    completion_tokens: int


def _prompts(input_ids: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor):
    prompts = []
    for i in range(input_ids.shape[0]):
        real = attention_mask[i].nonzero()
        start = int(real[0, 0]) if real.numel() else 0  # left padding, if any
        trained = (labels[i] != IGNORE_INDEX).nonzero()
        end = int(trained[0, 0]) if trained.numel() else int(real[-1, 0]) + 1
        prompts.append(input_ids[i, start:end])
    return prompts


def sample_on_policy(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
    max_new_tokens: int,
    temperature: float,
    pad_token_id: int,
    eos_token_id: int | list[int] | None,
) -> OnPolicyBatch:
    """Replace each row's assistant part by a completion the student samples now.

    Returns a right-padded batch whose labels train on the sampled tokens (up to and including
    the first end-of-sequence token) and nothing else.
    """
    prompts = _prompts(input_ids, labels, attention_mask)
    width = max(len(p) for p in prompts)
    device = input_ids.device
    left = torch.full((len(prompts), width), pad_token_id, dtype=torch.long, device=device)
    left_mask = torch.zeros_like(left)
    for i, p in enumerate(prompts):
        left[i, width - len(p) :] = p
        left_mask[i, width - len(p) :] = 1
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model.generate(
                input_ids=left,
                attention_mask=left_mask,
                do_sample=True,
                temperature=temperature,
                top_k=0,
                top_p=1.0,
                max_new_tokens=max_new_tokens,
                pad_token_id=pad_token_id,
                eos_token_id=eos_token_id,
            )
    finally:
        model.train(was_training)
    eos = {eos_token_id} if isinstance(eos_token_id, int) else set(eos_token_id or [])
    rows, lens = [], []
    for i, p in enumerate(prompts):
        completion = out[i, width:].tolist()
        for j, tok in enumerate(completion):
            if tok in eos:
                completion = completion[: j + 1]
                break
        rows.append((p.tolist(), completion))
        lens.append(len(p) + len(completion))
    total = max(lens)
    ids = torch.full((len(rows), total), pad_token_id, dtype=torch.long, device=device)
    mask = torch.zeros_like(ids)
    new_labels = torch.full_like(ids, IGNORE_INDEX)
    for i, (p, c) in enumerate(rows):
        seq = torch.tensor(p + c, dtype=torch.long, device=device)
        ids[i, : len(seq)] = seq
        mask[i, : len(seq)] = 1
        if c:
            new_labels[i, len(p) : len(seq)] = seq[len(p) :]
    return OnPolicyBatch(ids, mask, new_labels, sum(len(c) for _, c in rows))
