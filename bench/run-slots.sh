#!/usr/bin/env bash
# Worker-slot seconds per task in a real Airflow: ours (default, start_from_trigger) beside the
# cncf.kubernetes provider's deferrable KubernetesPodOperator (bench/slots.py).
#   bash bench/run-slots.sh [--tasks 20] [--seconds 10] [--parallelism 4] [--name NAME]
# Writes bench/results/<date>-slots[-NAME].md.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
run_with_both_providers bench.slots "$@"  # both providers in one Airflow
