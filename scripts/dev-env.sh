# Sourced by demo.sh and test.sh: create .venv if needed and install the pinned
# development requirements into it. Needs nothing but Python 3.10+ on the machine.
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
