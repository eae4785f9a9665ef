#!/usr/bin/env bash
# Set everything up (idempotent), then run the whole test suite, one pytest-xdist worker per core (each test
# file stays in one worker, so its module fixtures are built once). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest -q -n auto --dist loadfile "$@"
