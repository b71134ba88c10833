"""Tiny real models and a small `messages` dataset of arithmetic traces, built once per session."""

from __future__ import annotations

import random

import pytest


def arithmetic_messages(n: int, seed: int = 0) -> list[dict]:
    """`n` two-step +/- problems with gold think-block traces, as chat `messages` rows."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b, c = rng.randint(0, 30), rng.randint(0, 30), rng.randint(0, 30)
        op1, op2 = rng.choice("+-"), rng.choice("+-")
        ab = a + b if op1 == "+" else a - b
        abc = ab + c if op2 == "+" else ab - c
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"What is {a} {op1} {b} {op2} {c}?"},
                    {
                        "role": "assistant",
                        "content": f"<think>\n{a} {op1} {b} = {ab}. {ab} {op2} {c} = {abc}.\n"
                        f"</think>\n\nThe answer is \\boxed{{{abc}}}",
                    },
                ]
            }
        )
    return rows


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """One torch thread, as in the demo's parallel trainings: on a loaded 2-core machine two
    threads contend and a tiny model's step gets several times slower. Restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def train_rows() -> list[dict]:
    return arithmetic_messages(96, seed=0)


@pytest.fixture(scope="session")
def train_dataset(train_rows):
    from datasets import Dataset

    return Dataset.from_list(train_rows)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, train_rows):
    """An untrained tiny Qwen2 (TEST_ARCH) with a tokenizer trained on the dataset's text."""
    from reasoning_distill.toy.models import make_tiny_model
    from reasoning_distill.toy.tokenizer import chat_template

    texts = [m["content"] for r in arithmetic_messages(400, seed=1) for m in r["messages"]]
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model", texts + [chat_template()])


@pytest.fixture(scope="session")
def other_vocab_model_dir(tmp_path_factory):
    """A tiny model whose tokenizer was trained on different text: same size, other vocabulary."""
    from reasoning_distill.toy.models import make_tiny_model

    texts = [f"unrelated words number {i} alpha beta gamma delta" for i in range(300)]
    return make_tiny_model(tmp_path_factory.mktemp("other") / "model", texts)


@pytest.fixture(scope="session")
def sharp_teacher_dir(tmp_path_factory, tiny_model_dir):
    """A different, larger tiny Qwen2 on the student's tokenizer with confident (peaked)
    next-token distributions, so that the student starts far from it in reverse KL."""
    import torch
    from transformers import AutoTokenizer

    from reasoning_distill.toy.models import Arch, init_model

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    teacher = init_model(tok, Arch(hidden_size=48, num_hidden_layers=2), seed=1)
    with torch.no_grad():  # tied embeddings: sharper input and output projections
        teacher.get_input_embeddings().weight.mul_(8.0)
    path = tmp_path_factory.mktemp("teacher") / "model"
    teacher.save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path
