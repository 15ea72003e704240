#!/usr/bin/env bash
# The test command: set up .venv if needed, lint, then run the whole suite. Extra args go to pytest.
#
# Without arguments each test area (each folder under tests/, then the top-level test files) runs in
# a pytest process of its own, so no area inherits another's threads (Ray, OPC UA servers, browsers)
# or compiled programs; a crash names its area. Areas run side by side, one per core and 4 GiB of
# free memory (TWINGYM_TEST_JOBS overrides), the longest first; each area's output is printed whole
# when it ends. With arguments, one pytest gets them as given.
#
# The suite's programs are small and short-lived, so XLA's compile time dominates it: XLA_FLAGS
# asks the CPU backend for its quicker code generation (about half the compile time for twice the
# run time of a step). Set TWINGYM_TEST_XLA_DEFAULTS=1 to test with XLA's own settings.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
ruff check .
if [ "${TWINGYM_TEST_XLA_DEFAULTS:-0}" != 1 ]; then
  export XLA_FLAGS="${XLA_FLAGS:-} --xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=0"
fi

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

# areas that take longest, started first so the others fill the remaining slots around them
LONGEST_FIRST=(tests/envs)
areas=()
for dir in "${LONGEST_FIRST[@]}" tests/*/; do
  dir="${dir%/}"
  [[ " ${areas[*]} " == *" ${dir} "* ]] && continue
  compgen -G "${dir}/test_*.py" >/dev/null && areas+=("${dir}")
done
top_level=$(compgen -G 'tests/test_*.py' | tr '\n' ' ' || true)
[ -n "$top_level" ] && areas+=("$top_level")

default_jobs() {  # one area per core this job may use (CPU affinity and cgroup quota), and per 4 GiB free
  local jobs quota="max" period=100000 quota_cores mem_kib mem_jobs
  jobs=$(nproc)
  if [ -r /sys/fs/cgroup/cpu.max ]; then
    read -r quota period < /sys/fs/cgroup/cpu.max
  elif [ -r /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
    quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)
    period=$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)
  fi
  if [[ "$quota" =~ ^[0-9]+$ ]] && [ "$quota" -gt 0 ]; then
    quota_cores=$(( (quota + period - 1) / period ))
    if [ "$quota_cores" -lt "$jobs" ]; then jobs=$quota_cores; fi
  fi
  mem_kib=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo 2>/dev/null || true)
  if [[ "$mem_kib" =~ ^[0-9]+$ ]]; then
    mem_jobs=$(( mem_kib / 4194304 ))
    if [ "$mem_jobs" -lt "$jobs" ]; then jobs=$mem_jobs; fi
  fi
  echo $(( jobs > 1 ? jobs : 1 ))
}
jobs="${TWINGYM_TEST_JOBS:-$(default_jobs)}"
echo "scripts/test.sh: ${#areas[@]} areas, ${jobs} at a time" >&2
declare -A area_of=() log_of=() started=()   # by pid: the area, its log, its start (s)
logs=$(mktemp -d)
# on an early exit (Ctrl-C, a killed CI job) the areas still running are stopped by their pids
trap 'kill "${!area_of[@]}" 2>/dev/null || true; rm -rf "$logs"' EXIT
failed=()
ran=0

finish_one() {  # wait for any running area, print its output, record its verdict
  local pid rc=0
  wait -n -p pid || rc=$?
  local area="${area_of[$pid]}"
  cat "${log_of[$pid]}"
  echo "scripts/test.sh: ${area}: exit ${rc} after $(( $(date +%s) - ${started[$pid]} )) s" >&2
  case "$rc" in
    0) ran=$((ran + 1)) ;;
    5) ;;  # every test of this area is in the slow tier
    *) failed+=("${area} (exit ${rc})") ;;
  esac
  unset "area_of[$pid]"
}

for area in "${areas[@]}"; do
  while [ "${#area_of[@]}" -ge "$jobs" ]; do finish_one; done
  echo "scripts/test.sh: ${area}" >&2
  log="$logs/${#started[@]}.log"
  # shellcheck disable=SC2086  # the last area is a list of files
  run_pytest -p no:cacheprovider $area >"$log" 2>&1 &
  pid=$!
  area_of[$pid]="$area"
  log_of[$pid]="$log"
  started[$pid]=$(date +%s)
done
while [ "${#area_of[@]}" -gt 0 ]; do finish_one; done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "scripts/test.sh: failed: ${failed[*]}" >&2
  exit 1
fi
if [ "$ran" -eq 0 ]; then
  echo "scripts/test.sh: pytest collected no tests; failing" >&2
  exit 1
fi
echo "scripts/test.sh: all ${ran} test areas passed" >&2
