#!/usr/bin/env bash
# The user's journey on the default project, end to end: bake it, install it in its own
# environment, write its dataset, train it with logging on, and print the run directory.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/dev-env.sh
template="$PWD"
demo="$template/build/demo"
rm -rf "$demo"
mkdir -p "$demo"

echo "== baking the default project into $demo"
.venv/bin/cookiecutter --no-input --output-dir "$demo" "$template"
project="$demo/$(ls "$demo")"
cd "$project"

echo "== installing it into its own environment ($project/.venv)"
"${PYTHON:-python3}" -m venv .venv
# The CPU build available on this machine first; `pip install -e .` then keeps it.
.venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .

echo "== writing the dataset"
.venv/bin/python scripts/make_dataset.py

echo "== training (logged: the tree is clean)"
.venv/bin/python run.py sample_runconfig.yaml --cpu

echo "== the logged runs (python run.py --list)"
.venv/bin/python run.py --list
