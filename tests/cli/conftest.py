"""CLI tests share the generation room's helpers: the tiny model and the generate command line."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "generation"))
from model_fixtures import tiny_model_dir, tiny_model_think_open_dir  # noqa: E402, F401
