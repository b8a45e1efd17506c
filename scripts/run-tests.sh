#!/usr/bin/env bash
# Runs every check of the project: lint and format (ruff), types (mypy strict), the unit tests
# (plain `pytest`), then the integration tests that start real services (`pytest -m integration`).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m ruff check src tests bench
python3 -m ruff format --check src tests bench
python3 -m mypy
python3 -m pytest -q "$@"
python3 -m pytest -q -m integration "$@"
