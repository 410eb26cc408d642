#!/usr/bin/env bash
# Log throughput per task: our trigger beside the cncf.kubernetes provider's end-of-task read, on
# the same pod of the real cluster (bench/logs.py; it needs a node: a pod must really run).
#   bash bench/run-logs.sh [--lines 100000] [--rounds 3] [--name NAME]
# Writes bench/results/<date>-logs[-NAME].md.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
run_with_both_providers bench.logs "$@"  # both in one interpreter
