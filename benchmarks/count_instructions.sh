#!/usr/bin/env bash
# Instructions a change saves, where the clock is too noisy to see a few percent (docs/performance.md,
# issue 23's tenth step): valgrind's cachegrind counts the instructions of building the bench scenario and
# running DAYS of it, and of building it and running one day; their difference is days 1 to DAYS-1.
# OpenBLAS runs on one thread: its idle threads spin, and their spinning made counts vary by 10%.
#
# Usage (from the repository, valgrind installed): bash benchmarks/count_instructions.sh [DAYS] [--set k=v ...]
# Prints: instructions for days 1-(DAYS-1). Compare two checkouts by running it in each.
set -euo pipefail
cd "$(dirname "$0")/.."
days="${1:-120}"
shift || true
python="${PYTHON:-.venv/bin/python}"
count() {
  local log
  log="$(mktemp)"
  OPENBLAS_NUM_THREADS=1 PYTHONHASHSEED=0 valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
    "$python" -c 'import sys; from sim.model import MarketModel; from sim.scenario_io import load_scenario; MarketModel(load_scenario("scenarios/bench.yaml", sys.argv[1:])).run()' \
    "simulation.days=$1" "${@:2}" 2>"$log" >/dev/null
  grep "I *refs" "$log" | awk '{print $NF}' | tr -d ,
  rm -f "$log"
}
sets=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--set" ]; then sets+=("$2"); shift 2; else sets+=("$1"); shift; fi
done
full=$(count "$days" "${sets[@]+"${sets[@]}"}")
one=$(count 1 "${sets[@]+"${sets[@]}"}")
echo "instructions for days 1-$((days - 1)): $((full - one)) (build + $days days: $full; build + 1 day: $one)"
