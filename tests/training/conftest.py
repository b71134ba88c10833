"""The training tests' fixtures (defined in training_fixtures.py, shared with tests/cli)."""

from tests.training.training_fixtures import *  # noqa: F403
