#!/usr/bin/env bash
# Instructions a change saves, where the clock is too noisy to see a few percent (docs/performance.md,
# issue 23's tenth and eleventh steps): valgrind's cachegrind counts the instructions of building the bench
# scenario and running DAYS of it, and of building it and running one day; their difference is days 1 to
# DAYS-1. With --charts instead: the bench's year is simulated once (not counted) and kept in a temporary
# file; the count is of loading it, tabulating it and drawing the run's three charts (PNG and SVG), less
# the same without drawing.
# OpenBLAS runs on one thread: its idle threads spin, and their spinning made counts vary by 10%.
#
# Usage (from the repository, valgrind installed):
#   bash benchmarks/count_instructions.sh [DAYS] [--set k=v ...]
#   bash benchmarks/count_instructions.sh --charts
# Prints: instructions for days 1-(DAYS-1), or for the charts. Compare two checkouts by running it in each.
set -euo pipefail
shopt -s inherit_errexit  # a failure inside $(...) stops the script too
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
instructions() {  # the instructions of running "$python" "$@"
  local log
  log="$(mktemp)"
  OPENBLAS_NUM_THREADS=1 PYTHONHASHSEED=0 MPLBACKEND=Agg valgrind --tool=cachegrind --cache-sim=no \
    --cachegrind-out-file=/dev/null "$python" "$@" 2>"$log" >/dev/null || true  # its output is shown below if it gave no count
  local count
  count=$(grep "I *refs" "$log" | awk '{print $NF}' | tr -d ,) || true
  if [ -z "$count" ]; then cat "$log" >&2; rm -f "$log"; echo "no instruction count (is valgrind installed? did the run fail?)" >&2; exit 1; fi
  rm -f "$log"
  echo "$count"
}
if [ "${1:-}" = "--charts" ]; then
  [ $# -eq 1 ] || { echo "--charts takes no other argument" >&2; exit 2; }
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  record="$scratch/record.pkl"
  "$python" -c 'import pickle, sys; from sim.runner import simulate; from sim.scenario_io import load_scenario
open(sys.argv[1], "wb").write(pickle.dumps(simulate(load_scenario("scenarios/bench.yaml"))))' "$record"
  draw='import pickle, sys, tempfile; from pathlib import Path; import pyarrow.parquet, sim.charts, sim.runner as R
result = R.tabulate(pickle.loads(open(sys.argv[1], "rb").read())); charts = Path(tempfile.mkdtemp(dir=sys.argv[3]))
for job in R._chart_jobs(result, charts) if sys.argv[2] == "draw" else []: R._draw(*job)'
  drawn=$(instructions -c "$draw" "$record" draw "$scratch")
  not=$(instructions -c "$draw" "$record" none "$scratch")
  echo "instructions for the three charts: $((drawn - not)) (drawn: $drawn; not drawn: $not)"
  exit 0
fi
days="${1:-120}"
case "$days" in ''|*[!0-9]*) echo "DAYS must be a whole number (got $days); usage above" >&2; exit 2;; esac
shift || true
sets=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--set" ]; then sets+=("$2"); shift 2; else sets+=("$1"); shift; fi
done
model='import sys; from sim.model import MarketModel; from sim.scenario_io import load_scenario
MarketModel(load_scenario("scenarios/bench.yaml", sys.argv[1:])).run()'
full=$(instructions -c "$model" "simulation.days=$days" "${sets[@]+"${sets[@]}"}")
one=$(instructions -c "$model" "simulation.days=1" "${sets[@]+"${sets[@]}"}")
echo "instructions for days 1-$((days - 1)): $((full - one)) (build + $days days: $full; build + 1 day: $one)"
