"""The training tests' fixtures (defined in training_fixtures.py, shared with tests/cli)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from training_fixtures import *  # noqa: E402, F403
