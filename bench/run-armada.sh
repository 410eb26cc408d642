#!/usr/bin/env bash
# The Armada benchmark in one command: our ArmadaJobTrigger beside armada-airflow's deferrable path,
# on the bench's own Armada gRPC server (no cluster needed).
#   bash bench/run-armada.sh [--sizes 100,1000] [--contenders ours,armada] [--start 1,10] [--run 30,300]
#                            [--failure-rate 0.1] [--seed 7] [--workers 32] [--name armada]
# Writes bench/results/<date>-<name>.md and .png; raw files in bench/work/<stamp>-armada/.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ -x .venv/bin/python ]] || { echo "no .venv: run 'bash scripts/test.sh' once to create it" >&2; exit 2; }

# The anchor in its own virtualenv, pinned (bench/requirements-armada.txt): armada-airflow 1.1.3
# requires apache-airflow<3.3, so it gets Airflow 3.2.2 with constraints/py3.11-airflow3.2.txt
# (less its types-protobuf line, which armada-airflow pins to another version).
if [[ ! -x bench/.venv-armada/bin/python ]] || ! bench/.venv-armada/bin/python -c \
    "import armada.operators.armada, matplotlib" 2>/dev/null; then
  echo "[bench] creating bench/.venv-armada" >&2
  python3 -m venv bench/.venv-armada
  bench/.venv-armada/bin/python -m pip install -q --upgrade pip
  grep -v '^types-protobuf==' constraints/py3.11-airflow3.2.txt > bench/.venv-armada/constraints.txt
  bench/.venv-armada/bin/python -m pip install -q -c bench/.venv-armada/constraints.txt -r bench/requirements-armada.txt
fi

name=armada
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [[ ${args[i]} == --name ]] && name=${args[i + 1]:-}
done
results=$(PYTHONPATH=. .venv/bin/python -m bench.armada_run "$@" | tee /dev/stderr | sed -n 's/^\[bench\] results: //p')
PYTHONPATH=. bench/.venv-armada/bin/python -m bench.armada_report "$results" --name "$name"
