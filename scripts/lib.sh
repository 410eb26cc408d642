# Shared by scripts/test.sh and scripts/demo.sh (sourced, from the checkout's root).

# The virtualenv .venv with the project and its test and Armada extras, at the pinned versions
# for the interpreter CI uses (other interpreters resolve freely). Leaves it activated.
setup_venv() {
  local python=${PYTHON:-python3}
  [[ -x .venv/bin/python ]] || "$python" -m venv .venv
  # shellcheck disable=SC1091
  source .venv/bin/activate
  python -m pip install -q --upgrade pip
  local constraints=() pyver
  pyver=$(python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  [[ -f constraints/py$pyver.txt ]] && constraints=(-c "constraints/py$pyver.txt")
  # ${a[@]+"${a[@]}"}: an empty array is "unbound" under set -u in bash < 4.4 (macOS ships 3.2).
  python -m pip install -q ${constraints[@]+"${constraints[@]}"} -e ".[test,armada]"
}

# Exports KUBECONFIG for a cluster: the current $KUBECONFIG; else the local cluster of
# ../shared/k8s-local when it is beside the checkout; else a kind cluster (created if needed) when
# kind and Docker are installed; else it stops and says how to get one. Needs no virtualenv, so the
# scripts call it before setup_venv: a missing cluster is reported before minutes of installing.
find_cluster() {
  if [[ -n ${KUBECONFIG:-} ]]; then
    export KUBECONFIG
    return
  fi
  if [[ -f ../shared/k8s-local/up.sh ]]; then
    eval "$(bash ../shared/k8s-local/up.sh)"
    export KUBECONFIG
    return
  fi
  if command -v kind >/dev/null && command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    local name=airflow-k8s-async
    export KUBECONFIG=$PWD/.kind-kubeconfig
    if kind get clusters 2>/dev/null | grep -qx "$name"; then
      kind export kubeconfig --name "$name" --kubeconfig "$KUBECONFIG" >&2
    else
      echo "creating a kind cluster '$name' (delete it later with: kind delete cluster --name $name)" >&2
      kind create cluster --name "$name" --kubeconfig "$KUBECONFIG" --wait 120s >&2
    fi
    # kind pulls images: the examples and tests use a pinned public busybox there.
    export K8S_ASYNC_EXAMPLE_IMAGE=${K8S_ASYNC_EXAMPLE_IMAGE:-busybox:1.36}
    export E2E_IMAGE=${E2E_IMAGE:-busybox:1.36}
    return
  fi
  cat >&2 <<'MSG'
no Kubernetes cluster found. Either:
  - point KUBECONFIG at a test cluster you may create pods in, e.g. export KUBECONFIG=~/.kube/config
  - or install Docker and kind (https://kind.sigs.k8s.io) and run this again: it creates a kind cluster
  - or put the local cluster (shared/k8s-local) beside this checkout
MSG
  exit 2
}
