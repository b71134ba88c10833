"""CLI tests share the generation room's helpers: the tiny model and the generate command line."""

from __future__ import annotations

import pytest

from tests.generation.model_fixtures import tiny_model_dir, tiny_model_think_open_dir  # noqa: F401


@pytest.fixture
def no_model_loads(monkeypatch):
    """Fails the test if any model's weights are loaded (transformers' `from_pretrained`):
    what a refusal before any model loads must never do."""
    import transformers

    loads: list[str] = []

    def refuse(model, *args, **kwargs):
        loads.append(str(model))
        raise AssertionError(f"a model was loaded: {model}")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)
    yield loads
    assert loads == [], f"a model was loaded: {loads}"
