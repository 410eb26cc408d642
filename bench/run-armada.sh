#!/usr/bin/env bash
# The Armada benchmark in one command: our ArmadaJobTrigger beside armada-airflow's deferrable path,
# on the bench's own Armada gRPC server (no cluster needed).
#   bash bench/run-armada.sh [--sizes 100,1000] [--contenders ours,armada] [--start 1,10] [--run 30,300]
#                            [--failure-rate 0.1] [--seed 7] [--workers 32] [--name armada]
# Writes bench/results/<date>-<name>.md and .png; raw files in bench/work/<stamp>-armada/.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

need_project_venv

# The anchor in its own virtualenv, pinned (bench/requirements-armada.txt): armada-airflow 1.1.3
# requires apache-airflow<3.3, so it gets Airflow 3.2.2 with constraints/py3.11-airflow3.2.txt
# (less its types-protobuf line, which armada-airflow pins to another version).
anchor_venv bench/.venv-armada bench/requirements-armada.txt constraints/py3.11-airflow3.2.txt types-protobuf \
  "armada.operators.armada, matplotlib"

name=$(name_arg armada "$@")
results=$(PYTHONPATH=. .venv/bin/python -m bench.armada_run "$@" | tee /dev/stderr | sed -n 's/^\[bench\] results: //p')
PYTHONPATH=. bench/.venv-armada/bin/python -m bench.armada_report "$results" --name "$name"
