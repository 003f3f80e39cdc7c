#!/usr/bin/env bash
# Run the template's whole test suite: every prompt combination is baked, linted and its
# own test suite run. Extra arguments go to pytest (e.g. -m "not slow", -k hooks).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/dev-env.sh
# Tests are spread over one process per core (-n auto); worksteal rebalances the few
# slow ones (each runs a generated project's suite) as workers free up.
exec .venv/bin/python -m pytest -n auto --dist worksteal "$@"
