#!/usr/bin/env bash
# Starts rave-gui (on its default database) after installing everything it needs.
# Usage: scripts/app.sh [--db PATH]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/rave-gui "$@"
