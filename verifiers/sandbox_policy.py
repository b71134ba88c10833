"""Whether untrusted code may run under the isolation this machine gives (`require_isolation`).

With bubblewrap the sandbox contains every attack its tests try. Without it (not installed,
or no user namespaces) the fallback still limits time, memory, processes and the network,
but a verified program can write into the host's world-writable folders (`/tmp`), read any
world-readable file, and see the host's processes. `rdistill verify` and `rdistill build`
therefore refuse to run code verification under that weaker isolation unless the user opts
in: `--allow-weak-sandbox`, the recipe key `verify.code.allow_weak_sandbox: true`, or
`RDISTILL_ALLOW_WEAK_SANDBOX=1`. The demo's own toy programs may run either way (its report
says which isolation ran).
"""

from __future__ import annotations

import logging
import os

from reasoning_distill.errors import ConfigError

logger = logging.getLogger(__name__)

ALLOW_ENV = "RDISTILL_ALLOW_WEAK_SANDBOX"
STRONG = "bubblewrap"
WHAT_WEAK_ALLOWS = (
    "a verified program can write into the host's /tmp, read world-readable files outside "
    "its folder and see the host's processes"
)


def allowed_by_env() -> bool:
    """`RDISTILL_ALLOW_WEAK_SANDBOX=1` (any other value, or none, does not opt in)."""
    return os.environ.get(ALLOW_ENV, "").strip() == "1"


def _why_weak(info: dict) -> str:
    if os.environ.get("RDISTILL_SANDBOX_NO_BWRAP") == "1":
        return "bubblewrap is turned off by RDISTILL_SANDBOX_NO_BWRAP=1"
    if not info.get("bwrap"):
        return "bubblewrap is not installed"
    err = " ".join(str(info.get("bwrap_error", "")).split())[:200]
    return f"bubblewrap cannot start here ({err})" if err else "bubblewrap cannot start here"


def require_isolation(allow_weak: bool, what: str) -> str:
    """The isolation code verification will run under (`sandbox_info()["isolation"]`).

    Weaker than bubblewrap without an opt-in (`allow_weak`, or the environment variable):
    a `ConfigError` naming the isolation, what it does not stop and how to opt in. `what`
    names the data that needs it (e.g. "12 code samples in runs/gen").
    """
    from reasoning_distill.verifiers.sandbox import sandbox_info

    try:
        info = sandbox_info()
    except RuntimeError as e:  # no interpreter the sandbox can run
        raise ConfigError(f"the code sandbox cannot start: {e}") from None
    isolation = info["isolation"]
    if isolation == STRONG:
        return isolation
    if allow_weak or allowed_by_env():
        logger.warning(
            "running untrusted code under weak isolation (%s) as asked: %s",
            isolation,
            WHAT_WEAK_ALLOWS,
        )
        return isolation
    raise ConfigError(
        f"refusing to run {what} under the weak sandbox isolation {isolation!r} "
        f"({_why_weak(info)}): under it {WHAT_WEAK_ALLOWS}. Install bubblewrap "
        "(`bash scripts/setup.sh` does, or `apt-get install bubblewrap`), or accept this with "
        f"--allow-weak-sandbox (recipe: verify.code.allow_weak_sandbox: true; env {ALLOW_ENV}=1)"
    )
