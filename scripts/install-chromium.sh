#!/usr/bin/env bash
# Install Debian's headless-capable Chromium, for the MLflow page test of tracker=mlflow
# projects (tests/toolkit/test_mlflow.py opens a run's page and keeps a screenshot).
# As root, with apt; a second call with chromium there does nothing. Not root, or no apt:
# says why and exits 1 (the page test then skips, unless FISHBOTICS_REQUIRE_CHROMIUM=1
# makes it fail).
set -euo pipefail

if command -v chromium >/dev/null; then
    echo "install-chromium: $(chromium --version 2>/dev/null | head -n 1); nothing to do"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install-chromium: needs root (apt-get install chromium)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    echo "install-chromium: chromium is missing and there is no apt-get to install it" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
echo "install-chromium: $(chromium --version 2>/dev/null | head -n 1)"
