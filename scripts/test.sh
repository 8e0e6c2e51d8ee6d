#!/usr/bin/env bash
# Runs the whole test suite (after ruff, the import contracts and mypy) after installing
# everything it needs.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export QT_QPA_PLATFORM=offscreen MPLBACKEND=QtAgg
.venv/bin/ruff check rave_gui tests bench main.py
.venv/bin/ruff format --check rave_gui tests bench main.py
.venv/bin/lint-imports  # the layer contracts in pyproject.toml
.venv/bin/mypy  # rave_gui/backend, rave_gui/cli and rave_gui/core, configured in pyproject.toml
exec .venv/bin/python -m pytest "$@"
