"""Build an engine by name, so the CLI and the Ray actors construct engines the same way."""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from reasoning_distill.generation.engine import Engine

ENGINES = ("hf", "vllm", "openai")


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
    raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")


def looks_like_local_path(model: str) -> bool:
    """A hub id is `name` or `org/name`; anything else that names a path is a local folder."""
    return (
        model.startswith(("/", "./", "../", "~"))
        or model.count("/") > 1
        or os.sep != "/"
        and os.sep in model
    )


def check_model_folder(model: str) -> None:
    """Fail early and clearly on a local model folder that is absent or not a model."""
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").exists():
            raise FileNotFoundError(
                f"model {model!r}: {path} is not a model folder (no config.json)"
            )
        return
    if looks_like_local_path(model):
        raise FileNotFoundError(f"model folder {path} does not exist")


def check_generation_prompt(tokenizer: Any, model: str) -> None:
    """Refuse a chat template that adds nothing for `add_generation_prompt=True`.

    With such a template the model sees the user turn and no assistant header, so it would
    continue the user's text rather than answer it: every sample would be silently wrong.
    """
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return  # engines refuse chat requests without a template themselves
    probe = [{"role": "user", "content": "1+1?"}]
    with_gen = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
    without = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=False)
    if with_gen == without:
        raise ValueError(
            f"{model}: the chat template adds no generation prompt (add_generation_prompt=True "
            "changes nothing), so the model would not be asked to answer. Use a template with "
            "an `{% if add_generation_prompt %}` block."
        )


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

    Options set to None are dropped (so a CLI can pass every flag); an option the engine
    does not take raises a `TypeError` listing those it does.
    """
    cls = _engine_class(name)
    if name in ("hf", "vllm"):
        check_model_folder(str(model))
    given = {k: v for k, v in opts.items() if v is not None}
    allowed = set(engine_options(name))
    accepts_kwargs = any(
        p.kind is inspect.Parameter.VAR_KEYWORD
        for p in inspect.signature(cls.__init__).parameters.values()
    )
    unknown = sorted(set(given) - allowed)
    if unknown and not accepts_kwargs:
        raise TypeError(f"engine {name!r} does not take {unknown}; it takes {sorted(allowed)}")
    engine = cls(model, **given)
    tokenizer = getattr(engine, "tokenizer", None)
    if tokenizer is not None:
        try:
            check_generation_prompt(tokenizer, str(model))
        except ValueError:
            engine.close()
            raise
    return engine
