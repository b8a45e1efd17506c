#!/usr/bin/env bash
# Runs every check of the project: lint and format (ruff), types (mypy strict), the unit tests
# (plain `pytest`), then the integration tests that start real services (`pytest -m integration`),
# all with the python of the virtual environment scripts/install-test-deps.sh made (.venv).
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
if [ ! -x "$python" ]; then
  echo "run-tests: no $python; run ./scripts/install-test-deps.sh first" >&2
  exit 2
fi
"$python" -m ruff check src tests bench
"$python" -m ruff format --check src tests bench
"$python" -m mypy
"$python" -m pytest -q "$@"
"$python" -m pytest -q -m integration "$@"
