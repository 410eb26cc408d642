"""The cncf provider's own example DAGs as our compatibility suite.

The examples come from the provider 10.25's sdist (``tests/system/cncf/kubernetes/example_*.py``,
fetched by scripts/test.sh into ``$CNCF_PROVIDER_EXAMPLES``, never committed). Each is ported as a
user ports a DAG: its imports changed to ours, and its images to ones this cluster has (nothing can
be pulled); the provider's test scaffolding (``tests_common``) and one placeholder of its own are
taken out; a scheduled example runs once, as the provider's system tests run it (``dag.test()``).
Those that can run here run on a real Airflow and the real cluster, and every task must end as
written below; those that cannot say why (``NOT_HERE``), and a new example fails the test until it
is listed. Beyond that, an example changes only where ``CHANGED`` says why.

What an example uses of the provider beyond its operators (the pod-exec example's sensor reads the
pod with the provider's ``KubernetesHook``) stays the provider's: its unpacked wheel is on that
Airflow's path, as when a DAG folder migrates with both providers installed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.e2e.airflow_env import AirflowEnv, kubernetes_connection
from tests.support.images import bash_image, perl_image, python_image
from tests.support.kube import IMAGE, eventually

EXAMPLES = Path(os.environ.get("CNCF_PROVIDER_EXAMPLES", "/tmp/anchors/cncf-examples"))
PROVIDER = Path(os.environ.get("CNCF_PROVIDER_SOURCE", ".artifacts/cncf-provider-10.25.0"))

# Example file -> each task's end.
RUN: dict[str, dict[str, str]] = {
    "example_kubernetes_decorator.py": {"execute_in_k8s_pod": "success", "print_pattern": "success"},
    "example_kubernetes_cmd_decorator.py": dict.fromkeys(
        (
            "foo",
            "bar",
            "execute_in_k8s_pod_full_cmd",
            "execute_in_k8s_pod_args_only",
            "apply_templating",
        ),
        "success",
    ),
    "example_kubernetes_job.py": {
        "job-task": "success",
        "update-job-task": "success",
        "job-task-def": "success",
        "delete_job_task": "success",
        "delete_job_task_def": "success",
    },
    "example_kubernetes_resource.py": {"create_pvc": "success", "delete_pvc": "success"},
    "example_kubernetes_pod_exec.py": dict.fromkeys(
        ("create_pod", "wait_for_running_pod", "run_command", "verify_output", "delete_pod"), "success"
    ),
}
# Example file -> the names it gives what it makes in namespace "default": by the end of its run
# all of it must be gone, the Jobs' pods too.
MAKES = {
    "example_kubernetes_job.py": ("test-pi",),
    "example_kubernetes_resource.py": ("toto",),
    "example_kubernetes_pod_exec.py": ("airflow-pod-exec-",),
}


def leftovers(kube_api: client.ApiClient, prefixes: tuple[str, ...] = sum(MAKES.values(), ())) -> list[str]:
    """Objects in namespace "default" named with ``prefixes`` (deleting ones included)."""
    core, batch = client.CoreV1Api(kube_api), client.BatchV1Api(kube_api)
    found = [f"Job {j.metadata.name}" for j in batch.list_namespaced_job("default").items]
    found += [f"Pod {p.metadata.name}" for p in core.list_namespaced_pod("default").items]
    found += [f"PVC {c.metadata.name}" for c in core.list_namespaced_persistent_volume_claim("default").items]
    return [what for what in found if what.split(" ", 1)[1].startswith(prefixes)]


def clear_leftovers(kube_api: client.ApiClient) -> None:
    """Delete what an interrupted earlier session left, and wait until it is gone."""
    core, batch = client.CoreV1Api(kube_api), client.BatchV1Api(kube_api)
    delete = {
        "Job": lambda n: batch.delete_namespaced_job(n, "default", propagation_policy="Background"),
        "Pod": lambda n: core.delete_namespaced_pod(n, "default", grace_period_seconds=0),
        "PVC": lambda n: core.delete_namespaced_persistent_volume_claim(n, "default"),
    }
    for what in leftovers(kube_api):
        kind, name = what.split(" ", 1)
        try:
            delete[kind](name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
    eventually(lambda: not leftovers(kube_api), timeout=90)


# Example file -> (text, replacement, why): the only changes beyond imports, images and scaffolding.
CHANGED: dict[str, list[tuple[str, str, str]]] = {
    "example_kubernetes_job.py": [
        (
            "name=JOB_NAME,\n    )",
            "name=JOB_NAME,\n        wait_until_job_complete=False,\n    )",
            "ours waits for a Job by default and deletes it when it succeeds; the example patches and "
            "deletes the Job in later tasks, which needs the provider's default (docs/migration-cncf.md)",
        ),
        (
            '"print bpi(2000)"',
            '"print bpi(1000)"',
            "the stand-in perl image is this machine's perl 5.36, whose Math::BigInt fails on bpi(2000) "
            "(5.34's does not)",
        ),
    ],
}
# Example file -> why it cannot run here.
NOT_HERE = {
    "example_kubernetes.py": (
        "its tasks need what only the provider's system-test cluster has (Secrets airflow-secrets and "
        "airflow-secrets-2, ConfigMaps test-configmap-1/2, a PersistentVolumeClaim test-volume, a "
        "PriorityClass medium) or in_cluster=True (Airflow running in a pod)"
    ),
    "example_kubernetes_async.py": (
        "the same prerequisites as example_kubernetes.py, and its log task's namespace "
        "'kubernetes_task_async_log' is not a valid namespace name"
    ),
    "example_kubernetes_kueue.py": "needs Kueue (its CRDs and controller), not installed here",
    "example_spark_kubernetes.py": "needs the Spark operator (its CRD and controller), not installed here",
}

_IMPORTS = {
    "airflow.providers.cncf.kubernetes.operators.pod": "airflow_k8s_async.operators.pod",
    "airflow.providers.cncf.kubernetes.operators.job": "airflow_k8s_async.operators.job",
    "airflow.providers.cncf.kubernetes.operators.resource": "airflow_k8s_async.operators.resource",
    "airflow.providers.cncf.kubernetes.operators.pod_exec": "airflow_k8s_async.operators.pod_exec",
    "airflow.providers.cncf.kubernetes.secret": "airflow_k8s_async.secret",
}


def _image(name: str) -> str:
    if name.startswith("python"):
        return python_image()
    if name.startswith("bash"):
        return bash_image()
    if name.startswith("perl"):
        return perl_image()
    return IMAGE


def ported(name: str, source: str) -> str:
    """The example as a user ports it: our imports (``task`` from our decorators), local images,
    one run; the provider's test scaffolding and the placeholder ``config_file`` out; ``CHANGED``."""
    for text, replacement, _why in CHANGED.get(name, []):
        assert text in source, f"{name} no longer has {text!r}: review CHANGED"
        source = source.replace(text, replacement)
    for theirs, ours in _IMPORTS.items():
        source = source.replace(f"from {theirs} import", f"from {ours} import")
    # ``task`` keeps Airflow's meaning but for .kubernetes / .kubernetes_cmd: the documented alias.
    source = re.sub(
        r"^(\s*)from airflow\.(sdk|decorators) import (.*\btask\b.*)$",
        r"\1from airflow.\2 import \3\n\1from airflow_k8s_async.decorators import task",
        source,
        flags=re.M,
    )
    source = re.sub(r'image="([^"]+)"', lambda m: f'image="{_image(m[1])}"', source)
    source = re.sub(r"^(\s+image: )(\S+)$", lambda m: f"{m[1]}{_image(m[2])}", source, flags=re.M)  # YAML
    source = re.sub(r"^(\s+)schedule=(?!None)[^,\n]+,$", r"\1schedule=None,", source, flags=re.M)
    source = source.replace('config_file="/path/to/.kube/config",', "")  # a placeholder of the example's
    source = re.sub(
        r"^\s*from tests_common\..*$|^\s*list\(dag\.tasks\) >> watcher\(\)$", "", source, flags=re.M
    )
    return re.sub(r"^test_run = get_test_run\(dag\)$", "", source, flags=re.M)


def _dag_id(source: str) -> str:
    found = re.search(r'^DAG_ID = "([^"]+)"$', source, flags=re.M) or re.search(r'dag_id="([^"]+)"', source)
    assert found, "the example names its dag_id"
    return found[1]


@pytest.fixture(scope="module")
def provider_examples(
    tmp_path_factory: pytest.TempPathFactory, kube_api: client.ApiClient
) -> Iterator[tuple[AirflowEnv, dict[str, str]]]:
    """A real Airflow whose DAG folder holds the runnable examples, ported; their dag ids by file."""
    assert EXAMPLES.is_dir(), f"the provider's examples are not at {EXAMPLES} (scripts/test.sh fetches them)"
    clear_leftovers(kube_api)
    folder = tmp_path_factory.mktemp("provider_examples")
    dag_ids = {}
    for name in RUN:
        source = ported(name, (EXAMPLES / name).read_text())
        (folder / name).write_text(source)
        dag_ids[name] = _dag_id(source)
    assert (PROVIDER / "airflow").is_dir(), f"the provider's wheel is not unpacked at {PROVIDER}"
    path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(PROVIDER.resolve())) if p)
    env = AirflowEnv(
        home=tmp_path_factory.mktemp("provider_examples_home"),
        dags_folder=folder,
        overrides={**kubernetes_connection(), "PYTHONPATH": path},
    )
    env.start()
    try:
        yield env, dag_ids
    finally:
        env.stop()
        clear_leftovers(kube_api)


def test_every_example_runs_or_says_why_it_cannot() -> None:
    assert EXAMPLES.is_dir(), f"the provider's examples are not at {EXAMPLES} (scripts/test.sh fetches them)"
    found = {path.name for path in EXAMPLES.glob("example_*.py")}
    assert found == set(RUN) | set(NOT_HERE), "list a new example in RUN or NOT_HERE"
    assert not set(RUN) & set(NOT_HERE)


@pytest.mark.parametrize("name", sorted(RUN))
def test_a_ported_example_runs(
    name: str, provider_examples: tuple[AirflowEnv, dict[str, str]], kube_api: client.ApiClient
) -> None:
    env, dag_ids = provider_examples
    dag_id = dag_ids[name]
    env.wait_for_dag(dag_id, timeout=120)
    run_id = env.trigger(dag_id)
    env.wait_for_run(dag_id, run_id, timeout=300)
    ends = {task_id: env.task_state(dag_id, run_id, task_id) for task_id in RUN[name]}
    assert ends == RUN[name], {
        t: env.task_log(dag_id, run_id, t)[-2000:] for t, s in ends.items() if s != RUN[name][t]
    }
    # The provider's Job delete leaves the Job's pods behind; a pod deleted takes its grace period.
    eventually(lambda: not leftovers(kube_api, MAKES.get(name, ())), timeout=90)
