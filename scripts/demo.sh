#!/usr/bin/env bash
# Sets up and runs the demo on a fresh machine: virtualenv, install, a cluster, then real Airflow 3
# (SQLite, throwaway home) running example_dags/demo.py, with progress, the outcome and the UI
# address; everything is stopped and the demo's namespace deleted on exit, Ctrl-C, SIGTERM or SIGHUP.
# Cluster: $KUBECONFIG if set; otherwise the local cluster from ../shared/k8s-local; otherwise a
# kind cluster when kind and Docker are installed; otherwise it stops and says how to get one.
# Options go to scripts/demo.py: --keep (leave Airflow up to browse the UI until Ctrl-C),
# --timeout SECONDS, --interval SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
find_cluster
echo "== setting up .venv (first time: a few minutes)" >&2
setup_venv
exec python scripts/demo.py "$@"
