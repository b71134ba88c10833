"""Fixtures for the CUDA checks: tiny local models and a small chat dataset, built once.

Built lazily (only when a `gpu` test runs), so on a CPU machine the skipped tests cost nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.arithmetic import arithmetic_messages as arithmetic_rows  # one home
from tests.training.training_fixtures import save_sharp_teacher


@pytest.fixture(scope="session")
def gen_model_dir(tmp_path_factory) -> Path:
    """The generation room's tiny Qwen2 (ChatML template), random weights."""
    from tests.generation import tiny_model

    return tiny_model.build(tmp_path_factory.mktemp("gpu_gen") / "qwen2")


@pytest.fixture(scope="session")
def sft_rows() -> list[dict]:
    return arithmetic_rows(96, seed=0)


@pytest.fixture(scope="session")
def student_dir(tmp_path_factory) -> Path:
    """An untrained tiny student whose template has {% generation %} markers (assistant mask)."""
    from reasoning_distill.toy.models import make_tiny_model
    from reasoning_distill.toy.tokenizer import chat_template

    texts = [m["content"] for r in arithmetic_rows(400, seed=1) for m in r["messages"]]
    return make_tiny_model(
        tmp_path_factory.mktemp("gpu_student") / "model", texts + [chat_template()]
    )


@pytest.fixture(scope="session")
def sharp_teacher_dir(tmp_path_factory, student_dir) -> Path:
    """A larger tiny Qwen2 on the student's tokenizer with peaked next-token distributions."""
    return save_sharp_teacher(student_dir, tmp_path_factory.mktemp("gpu_teacher") / "model")
