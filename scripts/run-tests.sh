#!/usr/bin/env bash
# Runs every check of the project: lint and format (ruff), types of the core (mypy), then the
# whole test suite, the integration tests with real services included.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m ruff check src tests bench
python3 -m ruff format --check src tests bench
python3 -m mypy
python3 -m pytest -q "$@"
