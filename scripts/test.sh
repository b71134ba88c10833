#!/usr/bin/env bash
# Install everything (scripts/setup.sh --dev), then lint and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
VENV=${VENV:-.venv}
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
# pytest exits 5 when it collected no test: that is a failure here, as any non-zero code.
"$VENV/bin/python" -m pytest "$@"
