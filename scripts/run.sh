#!/usr/bin/env bash
# The main job: set up .venv if needed, then run the whole pipeline on embedded defaults
# (train the default wind-farm policy, export, validate, serve a live twin, deploy, summarise).
# Extra args go to `twingym pipeline`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
exec twingym pipeline "$@"
