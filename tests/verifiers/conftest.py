"""The sandbox tests' isolation modes: a test module that uses `isolation_mode`
(`pytestmark = pytest.mark.usefixtures("isolation_mode")`) runs every test twice, with the best
isolation here and with bubblewrap disabled (the fallback a machine without bubblewrap or user
namespaces gets)."""

from __future__ import annotations

import pytest
from reasoning_distill.verifiers.sandbox import close_sandboxes, sandbox_info


@pytest.fixture(params=["default", "without-bwrap"])
def isolation_mode(request, monkeypatch):
    close_sandboxes()
    sandbox_info.cache_clear()
    if request.param == "without-bwrap":
        monkeypatch.setenv("RDISTILL_SANDBOX_NO_BWRAP", "1")
    yield request.param
    close_sandboxes()
    sandbox_info.cache_clear()
