#!/usr/bin/env bash
# Worker-slot seconds per task in a real Airflow: ours (default, start_from_trigger) beside the
# cncf.kubernetes provider's deferrable KubernetesPodOperator (bench/slots.py).
#   bash bench/run-slots.sh [--tasks 20] [--seconds 10] [--parallelism 4] [--name NAME]
# Writes bench/results/<date>-slots[-NAME].md.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

: "${KUBECONFIG:?set KUBECONFIG, e.g. export KUBECONFIG=/var/cache/k8s-local/kubeconfig}"
export KUBECONFIG
need_project_venv
anchor_venv bench/.venv-cncf bench/requirements-cncf.txt constraints/py3.11.txt kubernetes \
  "airflow.providers.cncf.kubernetes, matplotlib"
# Both providers in one Airflow: ours goes into the anchor's virtualenv too (its dependencies are
# the provider's: kubernetes-asyncio, aiohttp, pyyaml).
if ! bench/.venv-cncf/bin/python -c "import airflow_k8s_async" 2>/dev/null; then
  bench/.venv-cncf/bin/python -m pip install -q --no-deps -e .
fi
PYTHONPATH=. bench/.venv-cncf/bin/python -m bench.slots "$@"
