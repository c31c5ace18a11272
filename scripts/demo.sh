#!/usr/bin/env bash
# One command: set everything up, then run the built-in demo (anvil + ERC-20 workload
# + the examples/demo pipelines as jobs into files) and print what landed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/chaintap demo "$@"
