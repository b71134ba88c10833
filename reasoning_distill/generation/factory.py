"""Build an engine by name, so the CLI and the Ray actors construct engines the same way."""

from __future__ import annotations

import inspect
from typing import Any

from reasoning_distill.errors import ConfigError
from reasoning_distill.generation.engine import Engine
from reasoning_distill.generation.model_checks import check_model
from reasoning_distill.generation.options import ENGINES


def _engine_class(name: str) -> type:
    # Imported lazily: each engine module pulls in its own heavy dependency.
    if name == "hf":
        from reasoning_distill.generation.hf_engine import HFEngine

        return HFEngine
    if name == "vllm":
        from reasoning_distill.generation.vllm_engine import VLLMEngine

        return VLLMEngine
    if name == "openai":
        from reasoning_distill.generation.openai_engine import OpenAIEngine

        return OpenAIEngine
    raise ConfigError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")


def engine_options(name: str) -> list[str]:
    """The keyword options the named engine's constructor accepts (besides `model`)."""
    sig = inspect.signature(_engine_class(name).__init__)
    return [
        p
        for p in sig.parameters
        if p not in ("self", "model")
        and sig.parameters[p].kind is not inspect.Parameter.VAR_KEYWORD
    ]


def make_engine(name: str, model: str, **opts: Any) -> Engine:
    """Construct engine `name` ("hf", "vllm" or "openai") for `model`.

    The model is checked first (`check_model`), so a wrong folder or an unreachable hub id
    fails at once. Options set to None are dropped (so a CLI can pass every flag); an option
    the engine does not take raises a `TypeError` listing those it does.
    """
    cls = _engine_class(name)
    check_model(name, str(model))
    given = {k: v for k, v in opts.items() if v is not None}
    allowed = set(engine_options(name))
    accepts_kwargs = any(
        p.kind is inspect.Parameter.VAR_KEYWORD
        for p in inspect.signature(cls.__init__).parameters.values()
    )
    unknown = sorted(set(given) - allowed)
    if unknown and not accepts_kwargs:
        raise TypeError(f"engine {name!r} does not take {unknown}; it takes {sorted(allowed)}")
    return cls(model, **given)
