"""One factory for the small training configs the tests run: a config class with the tests'
shared defaults, each test module's own settings and a call's overrides on top."""

from __future__ import annotations

from functools import partial
from typing import Any

BASE: dict[str, Any] = {"per_device_train_batch_size": 8, "logging_steps": 1, "seed": 0}
# A run long enough for the loss to fall clearly: 30 steps of 16 rows, logged every 5.
STEADY: dict[str, Any] = {"max_steps": 30, "per_device_train_batch_size": 16, "logging_steps": 5}


def small_config(config_class, /, **settings: Any):
    """`config_class(**BASE, **settings)`, later keys winning."""
    return config_class(**{**BASE, **settings})


def config_factory(config_class, **settings: Any):
    """A module's `_cfg(**overrides)`: `small_config` with its own settings as defaults."""
    return partial(small_config, config_class, **settings)
