#!/usr/bin/env bash
# Run the template's whole test suite: every prompt combination is baked, linted and its
# own test suite run. Extra arguments go to pytest (e.g. -m "not slow", -k hooks).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/dev-env.sh
# Tests are spread over one process per core (-n auto), handed out one at a time in
# the order tests/conftest.py puts them in (the slow ones first, longest first): each
# worker takes the next test as it frees up. The slowest tests' times come last.
exec .venv/bin/python -m pytest -n auto --dist load --maxschedchunk 1 --durations 15 "$@"
