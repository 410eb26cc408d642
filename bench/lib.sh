# What bench/run.sh and bench/run-armada.sh share; sourced from the repository's root.

# The project's .venv runs the orchestrator and our contenders.
need_project_venv() {
  [[ -x .venv/bin/python ]] || { echo "no .venv: run 'bash scripts/test.sh' once to create it" >&2; exit 2; }
}

# anchor_venv DIR REQUIREMENTS CONSTRAINTS DROPPED IMPORTS
# An anchor in its own virtualenv DIR, pinned by REQUIREMENTS and installed with CONSTRAINTS less
# its DROPPED== line; made on first use, or again when IMPORTS cannot be imported.
anchor_venv() {
  local dir=$1 requirements=$2 constraints=$3 dropped=$4 imports=$5
  if [[ ! -x $dir/bin/python ]] || ! "$dir/bin/python" -c "import $imports" 2>/dev/null; then
    echo "[bench] creating $dir" >&2
    python3 -m venv "$dir"
    "$dir/bin/python" -m pip install -q --upgrade pip
    grep -v "^$dropped==" "$constraints" > "$dir/constraints.txt"
    "$dir/bin/python" -m pip install -q -c "$dir/constraints.txt" -r "$requirements"
  fi
}

# name_arg DEFAULT ARGS...: the value of --name in ARGS, else DEFAULT (the report's file name).
name_arg() {
  local name=$1
  shift
  local args=("$@") i
  for ((i = 0; i < ${#args[@]}; i++)); do
    [[ ${args[i]} == --name ]] && name=${args[i + 1]:-}
  done
  echo "$name"
}

# run_with_both_providers MODULE ARGS...: python -m MODULE in the anchor's virtualenv with ours
# installed into it too (its dependencies are the provider's: kubernetes-asyncio, aiohttp, pyyaml),
# on the cluster of $KUBECONFIG; for benches that measure both in one process or one Airflow.
run_with_both_providers() {
  local module=$1
  shift
  : "${KUBECONFIG:?set KUBECONFIG, e.g. export KUBECONFIG=/var/cache/k8s-local/kubeconfig}"
  export KUBECONFIG
  need_project_venv
  anchor_venv bench/.venv-cncf bench/requirements-cncf.txt constraints/py3.11.txt kubernetes \
    "airflow.providers.cncf.kubernetes, matplotlib"
  if ! bench/.venv-cncf/bin/python -c "import airflow_k8s_async" 2>/dev/null; then
    bench/.venv-cncf/bin/python -m pip install -q --no-deps -e .
  fi
  PYTHONPATH=. bench/.venv-cncf/bin/python -m "$module" "$@"
}
