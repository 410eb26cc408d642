#!/usr/bin/env bash
# Log throughput per task: our trigger beside the cncf.kubernetes provider's end-of-task read, on
# the same pod of the real cluster (bench/logs.py; it needs a node: a pod must really run).
#   bash bench/run-logs.sh [--lines 100000] [--rounds 3] [--name NAME]
# Writes bench/results/<date>-logs[-NAME].md.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

: "${KUBECONFIG:?set KUBECONFIG, e.g. export KUBECONFIG=/var/cache/k8s-local/kubeconfig}"
export KUBECONFIG
need_project_venv
anchor_venv bench/.venv-cncf bench/requirements-cncf.txt constraints/py3.11.txt kubernetes \
  "airflow.providers.cncf.kubernetes, matplotlib"
# Both in one interpreter, as in bench/run-slots.sh: ours goes into the anchor's virtualenv too.
if ! bench/.venv-cncf/bin/python -c "import airflow_k8s_async" 2>/dev/null; then
  bench/.venv-cncf/bin/python -m pip install -q --no-deps -e .
fi
PYTHONPATH=. bench/.venv-cncf/bin/python -m bench.logs "$@"
