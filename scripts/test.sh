#!/usr/bin/env bash
# The test command: set up .venv if needed, lint, then run the whole suite. Extra args go to pytest.
#
# Without arguments each test area (each folder under tests/, then the top-level test files) runs in
# a pytest process of its own, so no area inherits another's threads (Ray, OPC UA servers, browsers)
# or compiled programs; a crash names its area. With arguments, one pytest gets them as given.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
ruff check .

run_pytest() {
  set +e
  python -X faulthandler -m pytest "$@"
  local rc=$?
  set -e
  return "$rc"
}

if [ "$#" -gt 0 ]; then
  rc=0
  run_pytest "$@" || rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "scripts/test.sh: pytest collected no tests; failing" >&2
    exit 1
  fi
  exit "$rc"
fi

areas=()
for dir in tests/*/; do
  compgen -G "${dir}test_*.py" >/dev/null && areas+=("${dir%/}")
done
top_level=$(compgen -G 'tests/test_*.py' | tr '\n' ' ' || true)
[ -n "$top_level" ] && areas+=("$top_level")
failed=()
ran=0
for area in "${areas[@]}"; do
  echo "scripts/test.sh: ${area}" >&2
  rc=0
  # shellcheck disable=SC2086  # the last area is a list of files
  run_pytest -p no:cacheprovider $area || rc=$?
  case "$rc" in
    0) ran=$((ran + 1)) ;;
    5) ;;  # every test of this area is in the slow tier
    *) failed+=("${area} (exit ${rc})") ;;
  esac
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "scripts/test.sh: failed: ${failed[*]}" >&2
  exit 1
fi
if [ "$ran" -eq 0 ]; then
  echo "scripts/test.sh: pytest collected no tests; failing" >&2
  exit 1
fi
echo "scripts/test.sh: all ${ran} test areas passed" >&2
