"""Fixtures for the generation room: a tiny local Qwen2 model, built once per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import tiny_model  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return tiny_model.build(tmp_path_factory.mktemp("tiny") / "qwen2")


@pytest.fixture(scope="session")
def tiny_model_think_open_dir(tmp_path_factory) -> Path:
    """Same model, template opening <think> in the prompt (as DeepSeek-R1-Distill's does)."""
    return tiny_model.build(
        tmp_path_factory.mktemp("tiny_think") / "qwen2", template=tiny_model.CHATML_THINK_OPEN
    )


@pytest.fixture(scope="session")
def hf_engine(tiny_model_dir):
    from reasoning_distill.generation.hf_engine import HFEngine

    engine = HFEngine(tiny_model_dir, batch_size=16)
    yield engine
    engine.close()
