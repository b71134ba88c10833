"""Fixtures for the generation room: a tiny local Qwen2 model, built once per session."""

from __future__ import annotations

import os

import pytest

from tests.generation.model_fixtures import tiny_model_dir, tiny_model_think_open_dir  # noqa: F401

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def hf_engine(tiny_model_dir):  # noqa: F811 - the fixture imported above
    from reasoning_distill.generation.hf_engine import HFEngine

    engine = HFEngine(tiny_model_dir, batch_size=16)
    yield engine
    engine.close()
