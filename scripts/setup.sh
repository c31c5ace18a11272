#!/usr/bin/env bash
# Set up everything chaintap's demo and tests need, idempotently:
#   1. PostgreSQL server binaries (Debian packages) when none are on the machine;
#   2. a virtualenv in .venv with chaintap and its dev tools (editable install);
#   3. the anvil EVM node from the npm package @foundry-rs/anvil, in node_modules/.
# Safe to run again: each step skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# 1. PostgreSQL (tests start their own throwaway cluster from these binaries).
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing PostgreSQL server packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    say "PostgreSQL server binaries not found; install postgresql to run the Postgres tests"
  fi
fi

# 2. Python environment.
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c 'import chaintap, datafusion, psycopg, pytest' >/dev/null 2>&1 \
   || [ pyproject.toml -nt .venv/.chaintap-installed ]; then
  say "installing chaintap and its dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch .venv/.chaintap-installed
fi

# 3. anvil, the local EVM node used by the demo and tests.
if [ ! -x node_modules/.bin/anvil ]; then
  if command -v npm >/dev/null 2>&1; then
    say "installing anvil (@foundry-rs/anvil) with npm"
    npm ci --omit=dev --no-audit --no-fund --loglevel=error >/dev/null
  else
    say "npm not found; install Node.js and npm to get anvil for the demo and tests"
  fi
fi
say "ready"
