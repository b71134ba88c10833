"""A tiny local model for the recipe tests (never a download), built once per session."""

from __future__ import annotations

import pytest

TEXTS = [
    "Compute 2+3. <think> 2+3=5 </think> The answer is \\boxed{5}.",
    "Write f(x). ```python\ndef f(x):\n    return x + 3\n```",
] * 10


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory):
    from reasoning_distill.toy.models import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("teacher") / "tiny", TEXTS)
