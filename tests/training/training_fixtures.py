"""Training fixtures: tiny real models and a small `messages` dataset, built once per session.

They live here (not in conftest.py) so that tests/cli/test_train.py can import them too.

Besides the toy ChatML student, tokenizers carrying the exact Qwen2.5 and DeepSeek-R1-Distill
chat templates that TRL ships (read from trl's package files), built locally (no download).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.arithmetic import arithmetic_messages

R1_TOKENS = {
    "bos": "<｜begin▁of▁sentence｜>",
    "eos": "<｜end▁of▁sentence｜>",
    "user": "<｜User｜>",
    "assistant": "<｜Assistant｜>",
}


def trl_template(name: str) -> str:
    """The text of one of the chat templates TRL ships (`trl/chat_templates/NAME.jinja`)."""
    import trl

    return (Path(trl.__file__).parent / "chat_templates" / f"{name}.jinja").read_text()


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


def _tokenizer_texts() -> list[str]:
    from reasoning_distill.toy.tokenizer import chat_template

    rows = arithmetic_messages(400, seed=1)
    return [m["content"] for r in rows for m in r["messages"]] + [chat_template()]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """An untrained tiny Qwen2 (TEST_ARCH) with a tokenizer trained on the dataset's text."""
    from reasoning_distill.toy.models import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model", _tokenizer_texts())


def _save_with_template(tmp_path_factory, name, tiny_model_dir, template, extra=None, eos=None):
    from transformers import AutoTokenizer

    from reasoning_distill.toy.models import TEST_ARCH, init_model

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    if extra:
        tok.add_special_tokens({"additional_special_tokens": extra})
    if eos:
        tok.eos_token = eos
    tok.chat_template = template
    model = init_model(tok, TEST_ARCH, seed=0)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.config.eos_token_id = tok.eos_token_id
    path = tmp_path_factory.mktemp(name) / "model"
    model.save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path


@pytest.fixture(scope="session")
def qwen_template_model_dir(tmp_path_factory, tiny_model_dir):
    """A tiny student whose tokenizer carries TRL's Qwen2.5 template (no generation markers)."""
    return _save_with_template(tmp_path_factory, "qwen25", tiny_model_dir, trl_template("qwen2_5"))


@pytest.fixture(scope="session")
def r1_template_model_dir(tmp_path_factory, tiny_model_dir):
    """A tiny student with the DeepSeek-R1-Distill template and its special tokens (the
    template strips the reasoning before `</think>` from assistant turns)."""
    return _save_with_template(
        tmp_path_factory,
        "r1distill",
        tiny_model_dir,
        trl_template("deepseek_r1_distill"),
        extra=list(R1_TOKENS.values()),
        eos=R1_TOKENS["eos"],
    )


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
    return save_sharp_teacher(tiny_model_dir, tmp_path_factory.mktemp("teacher") / "model")


def save_sharp_teacher(tokenizer_dir: Path, path: Path) -> Path:
    """A larger tiny Qwen2 on the tokenizer at `tokenizer_dir`, its distributions peaked,
    saved (with the tokenizer) to `path`."""
    import torch
    from transformers import AutoTokenizer

    from reasoning_distill.toy.models import Arch, init_model

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    teacher = init_model(tok, Arch(hidden_size=48, num_hidden_layers=2), seed=1)
    with torch.no_grad():  # tied embeddings: sharper input and output projections
        teacher.get_input_embeddings().weight.mul_(8.0)
    teacher.save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path


@pytest.fixture(scope="session")
def vllm_teacher_dir(tmp_path_factory, tiny_model_dir):
    """A peaked tiny teacher on the student's tokenizer with 32-wide attention heads (vLLM's
    CPU attention refuses the 8-, 12- and 16-wide heads of smaller test models)."""
    import torch
    from transformers import AutoTokenizer

    from reasoning_distill.toy.models import Arch, init_model

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    teacher = init_model(tok, Arch(64, 2, num_attention_heads=2, num_key_value_heads=1), seed=2)
    with torch.no_grad():
        teacher.get_input_embeddings().weight.mul_(8.0)
    path = tmp_path_factory.mktemp("vllm_teacher") / "model"
    teacher.save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path
