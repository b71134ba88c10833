"""CLI tests share the generation room's helpers: the tiny model and the generate command line."""

from __future__ import annotations

from tests.generation.model_fixtures import tiny_model_dir, tiny_model_think_open_dir  # noqa: F401
