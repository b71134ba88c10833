"""Publish a built dataset folder to the Hugging Face Hub, with clear errors offline or
without a token (never a transport traceback)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from reasoning_distill.errors import ConfigError, OutputError

logger = logging.getLogger(__name__)


def push_dataset(folder: str | Path, target: Any) -> str:
    """Upload `folder` (its Parquet shards, card and plot) to `target.repo_id`; the URL."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0"):
        raise ConfigError(
            f"output.push_to_hub: HF_HUB_OFFLINE is set, so {target.repo_id} cannot be reached; "
            "unset it (the dataset is built and kept), or drop push_to_hub"
        )
    from huggingface_hub import HfApi
    from huggingface_hub.utils import get_token

    if not get_token():
        raise ConfigError(
            "output.push_to_hub: no Hugging Face token; set HF_TOKEN or run `hf auth login` "
            f"(the dataset is built and kept in {folder})"
        )
    api = HfApi()
    try:
        api.create_repo(target.repo_id, repo_type="dataset", private=target.private, exist_ok=True)
        info = api.upload_folder(
            folder_path=str(folder),
            repo_id=target.repo_id,
            repo_type="dataset",
            revision=target.revision,
            allow_patterns=["README.md", "data/*", "*.png"],
        )
    except Exception as e:  # the Hub client raises many transport and permission errors
        raise OutputError(
            f"output.push_to_hub: upload to {target.repo_id} failed ({type(e).__name__}: "
            f"{str(e)[:300]}); the dataset is built and kept in {folder}"
        ) from None
    logger.info("pushed %s to %s", folder, target.repo_id)
    return str(getattr(info, "commit_url", target.repo_id))
