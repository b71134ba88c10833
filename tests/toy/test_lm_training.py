"""The toy teacher's training loop, single-process and data-parallel."""

from __future__ import annotations

import pytest

from reasoning_distill.toy.lm_training import encode_chat, train_causal_lm
from reasoning_distill.toy.models import Arch, init_model
from reasoning_distill.toy.tasks import make_traces
from reasoning_distill.toy.tokenizer import train_tokenizer


@pytest.fixture(scope="module")
def setup():
    traces = make_traces("math", "pretrain", 200)
    tok = train_tokenizer([t.problem.prompt + t.assistant() for t in traces], vocab_size=300)
    return tok, [encode_chat(tok, t.messages()) for t in traces], traces


def test_labels_cover_only_the_reply(setup):
    tok, examples, traces = setup
    ids, labels = examples[0]
    first = next(i for i, y in enumerate(labels) if y != -100)
    assert all(y == -100 for y in labels[:first]) and labels[first:] == ids[first:]
    reply = tok.decode(ids[first:])
    assert reply.startswith("<think>") and reply.endswith("<|im_end|>")
    assert traces[0].final in reply


def test_training_lowers_the_loss(setup):
    import torch

    tok, examples, _ = setup
    model = init_model(tok, Arch(hidden_size=32, num_hidden_layers=1))
    before = [p.detach().clone() for p in model.parameters()]
    losses = train_causal_lm(
        model,
        examples,
        steps=30,
        batch_size=16,
        lr=5e-3,
        warmup=5,
        pad_id=tok.pad_token_id,
    )
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert not model.training
