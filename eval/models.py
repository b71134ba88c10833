"""Which model was evaluated: a local folder's content hash, or a hub id and its revision.

`check_model` runs before any engine starts, so a wrong path or an unreachable hub id is one
clear error in a second, not a traceback after minutes. `model_identity` is what the protocol
manifest stores: a folder is named by a hash of its config, tokenizer files and weights (so a
moved or copied folder is the same model and a retrained one is not); a hub model by its id
and the commit it resolves to.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from reasoning_distill.errors import ConfigError, InputError

logger = logging.getLogger(__name__)

# Files whose bytes decide what the model computes (weights, config, tokenizer, template).
_IDENTITY_SUFFIXES = (".safetensors", ".bin", ".json", ".model", ".jinja", ".txt", ".tiktoken")
_CHUNK = 1 << 20


def _looks_local(model: str) -> bool:
    from reasoning_distill.generation.model_checks import looks_like_local_path

    return looks_like_local_path(model) or Path(model).expanduser().exists()


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def check_model(model: str, engine: str = "hf") -> None:
    """Raise a `UserError` unless `model` names a model this engine can load.

    A local path must be a folder with a config.json. A hub id (for the hf and vllm engines)
    must be in the local Hugging Face cache when HF_HUB_OFFLINE is set, or reachable on the
    Hub otherwise (checked with a short timeout). The openai engine names the model the
    server serves, which only the server can check.
    """
    if not isinstance(model, str) or not model.strip():
        raise ConfigError("--model: empty model path; give NAME=PATH (a folder or a hub id)")
    if engine == "openai":
        return
    path = Path(model).expanduser()
    if _looks_local(model):
        if not path.exists():
            raise InputError(f"model {model!r}: no such folder {path}")
        if not path.is_dir() or not (path / "config.json").is_file():
            raise InputError(f"model {model!r}: {path} is not a model folder (no config.json)")
        return
    _hub_revision(model)


def check_context_length(model: str, max_model_len: int | None) -> None:
    """Refuse a --max-model-len beyond what a local model's config supports (vLLM refuses it
    only after minutes of start-up, and with a validation traceback)."""
    if max_model_len is None or not _looks_local(model):
        return
    import json

    try:
        config = json.loads((Path(model).expanduser() / "config.json").read_text("utf-8"))
    except (OSError, ValueError):
        return
    limit = config.get("max_position_embeddings")
    if isinstance(limit, int | float) and max_model_len > limit:
        raise ConfigError(
            f"--max-model-len {max_model_len} is more than model {model!r} supports "
            f"(max_position_embeddings {int(limit)} in its config.json); lower it"
        )


def _hub_revision(repo_id: str, revision: str | None = None) -> str:
    """The commit a hub model id resolves to; `InputError` when it cannot be reached."""
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    if isinstance(cached, str):
        # .../models--org--name/snapshots/<commit>/config.json
        return Path(cached).parent.name
    if _offline():
        raise InputError(
            f"model {repo_id!r}: not a local folder and not in the Hugging Face cache, and "
            "HF_HUB_OFFLINE is set: download it where there is a network "
            "(huggingface-cli download) or pass a local folder"
        )
    try:
        from huggingface_hub import HfApi

        info = HfApi().model_info(repo_id, revision=revision, timeout=10)
    except Exception as e:  # network errors, 404, gated: all mean "cannot evaluate this"
        raise InputError(
            f"model {repo_id!r}: not a local folder, and the Hub cannot be reached or does not "
            f"have it ({type(e).__name__}); pass a local folder or check the id"
        ) from e
    return str(info.sha)


def folder_hash(path: str | Path) -> str:
    """sha256 over the names and bytes of the files that define a model folder."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and p.suffix in _IDENTITY_SUFFIXES and not p.name.startswith(".")
    )
    for p in files:
        rel = p.relative_to(path).as_posix()
        if rel.startswith(("checkpoint-", "runs/")) or rel in ("trainer_state.json",):
            continue
        h.update(rel.encode() + b"\0")
        with open(p, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def model_identity(model: str, engine: str = "hf") -> dict[str, Any]:
    """The manifest's model entry: local folder hash, or hub id and revision."""
    if engine == "openai":
        return {"kind": "served", "model": model}
    if _looks_local(model):
        path = Path(model).expanduser().resolve()
        return {"kind": "local", "path": str(path), "sha256": folder_hash(path)}
    return {"kind": "hub", "id": model, "revision": _hub_revision(model)}


def identity_digest(identity: dict[str, Any]) -> str:
    """A short stable name for a model identity (what cache keys use)."""
    if identity.get("kind") == "local":
        key = identity["sha256"]
    elif identity.get("kind") == "hub":
        key = f"{identity['id']}@{identity['revision']}"
    else:
        key = f"served:{identity.get('model')}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]
