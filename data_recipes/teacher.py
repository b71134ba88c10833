"""The teacher a recipe names: its engine (through the generation factory, with the recipe's
chat template) and its sampling parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reasoning_distill.data_recipes.recipe import Recipe, chat_template_path, resolve_path

from reasoning_distill.errors import ConfigError


def make_teacher_engine(recipe: Recipe, root: Path) -> Any:
    """The teacher engine a recipe names, through the generation factory."""
    from reasoning_distill.generation.factory import make_engine
    from reasoning_distill.generation.options import engine_opts

    t = recipe.teacher
    template = chat_template_path(recipe.prompt, root)
    if template is not None and (t.options.data_parallel or 1) > 1:
        # replicas are processes that load the model folder's own tokenizer and template
        raise ConfigError(
            "prompt.chat_template cannot reach data-parallel replicas (teacher.options."
            "data_parallel > 1): use tensor_parallel, or put the template in the model folder"
        )
    options = engine_opts(t.engine, t.options.model_dump())
    engine = make_engine(t.engine, teacher_model(recipe, root), **options)
    if template is not None:
        tok = getattr(engine, "tokenizer", None)
        if tok is None:
            engine.close()
            raise ConfigError(
                f"prompt.chat_template: engine {t.engine!r} applies the server's own template; "
                "drop chat_template or use the hf / vllm engine"
            )
        tok.chat_template = template.read_text(encoding="utf-8")
    return engine


def teacher_model(recipe: Recipe, root: Path) -> str:
    """The model to load: `toy:` is the miniature world's cached teacher; relative local
    paths resolve against the recipe's root; anything else is a hub id or server name."""
    model = recipe.teacher.model
    if model.startswith("toy:"):
        from reasoning_distill.toy.world import get_teacher

        return str(get_teacher().path)
    local = resolve_path(model, root)
    return str(local) if local.exists() or model.startswith((".", "/", "~")) else model


def sampling_params(recipe: Recipe) -> Any:
    """The teacher's `SamplingParams`, from the recipe's `teacher.sampling`."""
    from reasoning_distill.generation.options import sampling_params

    return sampling_params(recipe.teacher.sampling.model_dump())
