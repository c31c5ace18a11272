#!/usr/bin/env bash
# One command: set everything up, then run the checks CI runs: formatting, lint,
# strict typing and the test suite (real PostgreSQL, anvil and replay servers).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff format --check .
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/pytest -q "$@"
