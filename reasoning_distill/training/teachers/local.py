"""A teacher's top-k next-token log-probabilities over token sequences, from a local model.

`TopK` is the teacher as the distillation losses see it when its full logits are not at hand:
for each position t of a sequence, the k most likely next tokens (the prediction of token
t + 1), their log-probabilities, and the log of the mass left outside them (the tail bucket).
It is what the on-disk cache stores (`teacher_cache`), what a vLLM server returns
(`served`), and what `topk_distillation_loss` consumes.

Position convention: row t describes the distribution that predicts token t + 1, the same
alignment as `shift_labels`. A sequence of L tokens has L - 1 rows (the last token predicts
nothing that is trained).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from reasoning_distill.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass
class TopK:
    """A teacher's top-k per position: ids (n, k) int64, logprobs (n, k) float32 in any order,
    tail (n,) float32 = log of the mass outside the k ids (-inf when there is none)."""

    ids: np.ndarray
    logprobs: np.ndarray
    tail: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def k(self) -> int:
        return int(self.ids.shape[1])

    def rows(self, index: np.ndarray) -> TopK:
        return TopK(self.ids[index], self.logprobs[index], self.tail[index])


class TopKTeacher(Protocol):
    """Anything that scores token sequences: `score(seqs) -> [TopK with len(seq) - 1 rows]`."""

    k: int
    temperature: float

    def score(self, sequences: Sequence[Sequence[int]]) -> list[TopK]: ...


def check_raw_logprob_source(k: int, temperature: float, source: str) -> None:
    """The settings a teacher that returns raw log-probs (a vLLM engine or server) can honour:
    k >= 1, and temperature 1, since vLLM's prompt log-probs skip the sampling processors."""
    if k < 1:
        raise ConfigError(f"k must be >= 1 for {source}; got {k}")
    if temperature != 1.0:
        raise ConfigError(
            f"{source} returns raw (temperature 1) log-probs; temperature must be 1.0, got "
            f"{temperature} (the transformers teacher applies other temperatures)"
        )


def tail_from_topk(logprobs: np.ndarray) -> np.ndarray:
    """log(1 - sum exp(logprobs)) per row, -inf when the k entries hold all the mass.

    For values reported by a server (rounded log-probs), a sum at or above 1 means no tail.
    """
    mass = np.exp(logprobs.astype(np.float64)).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = np.log1p(-np.minimum(mass, 1.0))
    return tail.astype(np.float32)


def topk_from_logits(logits, k: int, temperature: float = 1.0) -> TopK:
    """TopK from one sequence's logits (n, V) (rows already aligned: row t predicts t + 1)."""
    import torch

    log_p = (logits.detach().to(torch.float32) / temperature).log_softmax(dim=-1)
    k = min(k, log_p.shape[-1])
    vals, ids = log_p.topk(k, dim=-1)
    if k == log_p.shape[-1]:
        tail = torch.full(vals.shape[:-1], float("-inf"))
    else:
        tail = log_p.scatter(-1, ids, float("-inf")).logsumexp(dim=-1)
    return TopK(ids.numpy().astype(np.int64), vals.numpy(), tail.numpy().astype(np.float32))


class HFTeacher:
    """A transformers causal LM as a `TopKTeacher` (teacher-forced, one forward per batch)."""

    def __init__(self, model, k: int, temperature: float = 1.0, batch_size: int = 8) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1; got {k}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0; got {temperature}")
        self.model = model.eval()
        self.k, self.temperature, self.batch_size = k, temperature, batch_size

    def score(self, sequences: Sequence[Sequence[int]]) -> list[TopK]:
        import torch

        out: list[TopK] = []
        device = next(self.model.parameters()).device
        for start in range(0, len(sequences), self.batch_size):
            batch = [list(s) for s in sequences[start : start + self.batch_size]]
            width = max(len(s) for s in batch)
            ids = torch.zeros(len(batch), width, dtype=torch.long)
            attn = torch.zeros(len(batch), width, dtype=torch.long)
            for i, s in enumerate(batch):  # right padding: positions keep their indices
                ids[i, : len(s)] = torch.tensor(s)
                attn[i, : len(s)] = 1
            with torch.no_grad():
                logits = self.model(
                    input_ids=ids.to(device), attention_mask=attn.to(device), use_cache=False
                ).logits.cpu()
            for i, s in enumerate(batch):
                out.append(topk_from_logits(logits[i, : len(s) - 1], self.k, self.temperature))
        return out


def stack_topk(
    per_row: Sequence[TopK | None], width: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pad per-sequence TopKs to a (B, width, k) batch (rows beyond a sequence are zeros).

    A row's TopK covers its positions 0..n-1; padding positions must be masked by the labels.
    """
    b = len(per_row)
    ids = np.zeros((b, width, k), dtype=np.int64)
    ids[:] = np.arange(k)  # distinct, in-range ids at padding positions
    lps = np.zeros((b, width, k), dtype=np.float32)
    tail = np.zeros((b, width), dtype=np.float32)
    for i, t in enumerate(per_row):
        if t is None:
            continue
        n = min(len(t), width)
        ids[i, :n], lps[i, :n], tail[i, :n] = t.ids[:n], t.logprobs[:n], t.tail[:n]
    return ids, lps, tail
