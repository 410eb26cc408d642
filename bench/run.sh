#!/usr/bin/env bash
# The benchmark in one command: our triggers beside the cncf.kubernetes provider's, same API server.
#   bash bench/run.sh [--sizes 100,1000,10000] [--kinds pod,job] [--contenders ours,cncf]
#                     [--start 1,10] [--run 30,300] [--failure-rate 0.1] [--seed 7] [--name NAME]
#                     [--allow-node]
# Writes bench/results/<date>[-NAME].md and .png; raw files in bench/work/<stamp>/.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

# `--kinds armada`: the Armada comparison, which needs no cluster (bench/run-armada.sh).
if [[ " $* " == *" --kinds armada "* ]]; then exec bash bench/run-armada.sh "$@"; fi

: "${KUBECONFIG:?set KUBECONFIG, e.g. export KUBECONFIG=/var/cache/k8s-local/kubeconfig}"
export KUBECONFIG
need_project_venv

# The anchor in its own virtualenv, pinned (bench/requirements-cncf.txt). The project's constraints
# pin kubernetes 37, which the provider refuses (<37), so that one line is left out.
anchor_venv bench/.venv-cncf bench/requirements-cncf.txt constraints/py3.11.txt kubernetes \
  "airflow.providers.cncf.kubernetes, matplotlib"

name=$(name_arg "" "$@")
results=$(PYTHONPATH=. .venv/bin/python -m bench.run "$@" | tee /dev/stderr | sed -n 's/^\[bench\] results: //p')
report_args=("$results")
[[ -n $name ]] && report_args+=(--name "$name")
PYTHONPATH=. bench/.venv-cncf/bin/python -m bench.report "${report_args[@]}"
