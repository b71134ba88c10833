"""Where training metrics go: `report_to` resolved so that wandb never fails for want of a key.

wandb 0.31 with neither `WANDB_MODE` nor an API key fails fast ("No API key configured"). A
user who asks for wandb on a machine without a key gets an offline run instead (syncable
later with `wandb sync`), and a log line saying so.
"""

from __future__ import annotations

import importlib.util
import logging
import netrc
import os
from pathlib import Path

logger = logging.getLogger(__name__)


def _has_wandb_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:  # `wandb login` stores the key in ~/.netrc
        rc = netrc.netrc(os.environ.get("NETRC", str(Path.home() / ".netrc")))
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False
    host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("://")[-1]
    return rc.authenticators(host) is not None


def prepare_report_to(report_to: None | str | list[str]) -> list[str]:
    """Normalise `report_to` to a list; make wandb offline when no API key is configured."""
    if report_to is None or report_to == "none":
        return []
    targets = [report_to] if isinstance(report_to, str) else list(report_to)
    targets = [t for t in targets if t != "none"]
    if "wandb" in targets:
        if importlib.util.find_spec("wandb") is None:
            raise ImportError(
                "report_to includes 'wandb' but wandb is not installed: "
                "pip install 'reasoning-distill[wandb]', or drop wandb from report_to"
            )
        if not os.environ.get("WANDB_MODE") and not _has_wandb_key():
            os.environ["WANDB_MODE"] = "offline"
            logger.warning(
                "report_to=wandb but no wandb API key is configured: logging offline under %s "
                "(upload later with `wandb sync`, or set WANDB_API_KEY / WANDB_MODE)",
                os.environ.get("WANDB_DIR", "./wandb"),
            )
    return targets
