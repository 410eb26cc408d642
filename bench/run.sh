#!/usr/bin/env bash
# The benchmark in one command: our triggers beside the cncf.kubernetes provider's, same API server.
#   bash bench/run.sh [--sizes 100,1000,10000] [--kinds pod,job] [--contenders ours,cncf]
#                     [--start 1,10] [--run 30,300] [--failure-rate 0.1] [--seed 7] [--name NAME]
#                     [--allow-node]
# Writes bench/results/<date>[-NAME].md and .png; raw files in bench/work/<stamp>/.
set -euo pipefail
cd "$(dirname "$0")/.."

# `--kinds armada`: the Armada comparison, which needs no cluster (bench/run-armada.sh).
if [[ " $* " == *" --kinds armada "* ]]; then exec bash bench/run-armada.sh "$@"; fi

: "${KUBECONFIG:?set KUBECONFIG, e.g. export KUBECONFIG=/var/cache/k8s-local/kubeconfig}"
export KUBECONFIG
[[ -x .venv/bin/python ]] || { echo "no .venv: run 'bash scripts/test.sh' once to create it" >&2; exit 2; }

# The anchor in its own virtualenv, pinned (bench/requirements-cncf.txt). The project's constraints
# pin kubernetes 37, which the provider refuses (<37), so that one line is left out.
if [[ ! -x bench/.venv-cncf/bin/python ]] || ! bench/.venv-cncf/bin/python -c \
    "import airflow.providers.cncf.kubernetes, matplotlib" 2>/dev/null; then
  echo "[bench] creating bench/.venv-cncf" >&2
  python3 -m venv bench/.venv-cncf
  bench/.venv-cncf/bin/python -m pip install -q --upgrade pip
  grep -v '^kubernetes==' constraints/py3.11.txt > bench/.venv-cncf/constraints.txt
  bench/.venv-cncf/bin/python -m pip install -q -c bench/.venv-cncf/constraints.txt -r bench/requirements-cncf.txt
fi

name=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [[ ${args[i]} == --name ]] && name=${args[i + 1]:-}
done
results=$(PYTHONPATH=. .venv/bin/python -m bench.run "$@" | tee /dev/stderr | sed -n 's/^\[bench\] results: //p')
report_args=("$results")
[[ -n $name ]] && report_args+=(--name "$name")
PYTHONPATH=. bench/.venv-cncf/bin/python -m bench.report "${report_args[@]}"
