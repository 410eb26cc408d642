#!/usr/bin/env bash
# Sets up and runs the whole suite on a fresh machine: virtualenv, install, cluster, lint, tests.
# Cluster: $KUBECONFIG if set; otherwise the local cluster from ../shared/k8s-local; otherwise a
# kind cluster when kind and Docker are installed; otherwise it stops and says how to get one.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
find_cluster
setup_venv
pyver=$(python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')

# The cncf.kubernetes provider's source (read by a test that compares our keyword lists with its
# operators' signatures, never imported): the wheel we migrate from, unpacked once, not committed.
if [[ -z ${CNCF_PROVIDER_SOURCE:-} ]]; then
  export CNCF_PROVIDER_SOURCE=$PWD/.artifacts/cncf-provider-10.25.0
  if [[ ! -d $CNCF_PROVIDER_SOURCE/airflow ]]; then
    mkdir -p "$CNCF_PROVIDER_SOURCE"
    python -m pip download -q --no-deps -d "$CNCF_PROVIDER_SOURCE" apache-airflow-providers-cncf-kubernetes==10.25.0
    python -m zipfile -e "$CNCF_PROVIDER_SOURCE"/*.whl "$CNCF_PROVIDER_SOURCE"
  fi
fi

# Its example DAGs (tests/system/cncf/kubernetes in its sdist), run ported to ours by
# tests/e2e/test_provider_examples.py: fetched once, not committed.
if [[ -z ${CNCF_PROVIDER_EXAMPLES:-} ]]; then
  export CNCF_PROVIDER_EXAMPLES=$PWD/.artifacts/cncf-provider-10.25.0-examples
  if [[ ! -f $CNCF_PROVIDER_EXAMPLES/example_kubernetes.py ]]; then
    sdist=$(mktemp -d)
    python -m pip download -q --no-deps --no-binary :all: -d "$sdist" apache-airflow-providers-cncf-kubernetes==10.25.0
    mkdir -p "$CNCF_PROVIDER_EXAMPLES"
    tar -xzf "$sdist"/*.tar.gz -C "$sdist"
    cp "$sdist"/*/tests/system/cncf/kubernetes/example_*.py "$CNCF_PROVIDER_EXAMPLES"/
    rm -rf "$sdist"
  fi
fi

echo "== lint: ruff, mypy --strict"
ruff check .
ruff format --check .
mypy

echo "== tests (cluster: $KUBECONFIG)"
python -m pytest -p no:cacheprovider -ra "$@"

# Airflow < 3.3 has no trigger on_kill: the kill/restart rules take another path there. CI proves
# it on a real Airflow 3.2 in a second virtualenv; locally opt in with COMPAT=1.
if [[ ${COMPAT:-${CI:-}} == 1 || ${COMPAT:-${CI:-}} == true ]]; then
  echo "== compatibility: Airflow 3.2 (kill while deferred, triggerer restart; pod and Armada)"
  [[ -x .venv-airflow3.2/bin/python ]] || "$PYTHON" -m venv .venv-airflow3.2
  .venv-airflow3.2/bin/python -m pip install -q --upgrade pip
  compat=()
  [[ -f constraints/py$pyver-airflow3.2.txt ]] && compat=(-c "constraints/py$pyver-airflow3.2.txt")
  .venv-airflow3.2/bin/python -m pip install -q ${compat[@]+"${compat[@]}"} "apache-airflow==3.2.2" \
    -e ".[test,armada]"
  .venv-airflow3.2/bin/python -m pytest -p no:cacheprovider -ra tests/e2e/test_pod_operator.py \
    tests/e2e/test_armada_operator.py -k "marking_failed or triggerer_restart or test_success"
fi
