"""Checks on a model before an engine loads it: the folder or hub id, and its chat template.

The factory checks the model before it constructs an engine; the engines check their
tokenizer's template before they load the weights.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from reasoning_distill.errors import ConfigError


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
            raise ConfigError(f"model {model!r}: {path} is not a model folder (no config.json)")
        return
    if looks_like_local_path(model):
        raise ConfigError(f"model folder {path} does not exist")


def check_hub_model(model: str) -> None:
    """Fail in a second, with the reason, on a hub id that cannot be loaded here.

    Without this, transformers retries the Hub for most of a minute and ends in a long
    traceback. A model already in the local Hugging Face cache passes at once.
    """
    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import RepositoryNotFoundError

    if isinstance(try_to_load_from_cache(model, "config.json"), str):
        return
    if constants.HF_HUB_OFFLINE:
        raise ConfigError(
            f"model {model!r} is no local folder and is not in the Hugging Face cache, and "
            "HF_HUB_OFFLINE is set: download it where there is a network "
            f"(`hf download {model}`) or pass a local model folder"
        )
    try:
        HfApi().model_info(model, timeout=10)
    except RepositoryNotFoundError:
        raise ConfigError(
            f"model {model!r}: no such model on the Hugging Face Hub (or it is gated: set "
            "HF_TOKEN), and no local folder by that name"
        ) from None
    except Exception as e:  # the Hub client raises many transport errors
        raise ConfigError(
            f"model {model!r} is no local folder and the Hugging Face Hub cannot be reached "
            f"({type(e).__name__}: {e}); pass a local model folder"
        ) from None


def check_model(name: str, model: str) -> None:
    """Check that engine `name` can load `model` (a folder, or a reachable hub id)."""
    if name not in ("hf", "vllm"):
        return  # the HTTP engine's model is a name the server knows; it checks the server
    check_model_folder(model)
    if not Path(model).expanduser().exists():
        check_hub_model(model)


def check_generation_prompt(tokenizer: Any, model: str) -> None:
    """Refuse a chat template that adds nothing for `add_generation_prompt=True`.

    With such a template the model sees the user turn and no assistant header, so it would
    continue the user's text rather than answer it: every sample would be silently wrong.
    Engines call this on their tokenizer before they load the model's weights.
    """
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return  # engines refuse chat requests without a template themselves
    probe = [{"role": "user", "content": "1+1?"}]
    with_gen = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
    without = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=False)
    if with_gen == without:
        raise ConfigError(
            f"{model}: the chat template adds no generation prompt (add_generation_prompt=True "
            "changes nothing), so the model would not be asked to answer. Use a template with "
            "an `{% if add_generation_prompt %}` block."
        )
