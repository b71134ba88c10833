"""Tiny-model fixtures shared by the generation and the CLI tests (each conftest imports them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.generation import tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return tiny_model.build(tmp_path_factory.mktemp("tiny") / "qwen2")


@pytest.fixture(scope="session")
def tiny_model_think_open_dir(tmp_path_factory) -> Path:
    """Same model, template opening <think> in the prompt (as DeepSeek-R1-Distill's does)."""
    return tiny_model.build(
        tmp_path_factory.mktemp("tiny_think") / "qwen2", template=tiny_model.CHATML_THINK_OPEN
    )
