#!/usr/bin/env bash
# Creates .venv and installs twingym with its dev extras, once (re-runs when pyproject/setup change).
# torch is installed first and pinned (2.13.0, CPU build, served locally) so nothing pulls CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "twingym setup: creating .venv with $($PYTHON --version)" >&2
  "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
stamp=".venv/.twingym-installed-$(cat pyproject.toml setup.py | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "twingym setup: installing dependencies into .venv (first run takes a few minutes)" >&2
  # pip's notes about this machine's absent local index folders are noise; real errors still show.
  pip_install() { python -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v "^WARNING: Location" >&2); }
  pip_install --upgrade "pip>=24"
  pip_install "torch==2.13.0"
  pip_install -e ".[dev]"
  python -c "import twingym.envs, torch, jax; assert torch.__version__.startswith('2.13.0'), torch.__version__" \
    || { echo "twingym setup: install failed" >&2; exit 1; }
  rm -f .venv/.twingym-installed-*
  touch "$stamp"
fi
