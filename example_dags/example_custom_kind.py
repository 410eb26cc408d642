"""A custom kind: the task creates a ``Sleeper`` object and waits until the object itself says it
is done, by a status rule given as data (``status.state`` is ``Done`` -> success, ``Broken`` ->
failure). Any kind works the same way: rules for conditions (``{"condition": {"type": "Ready",
"status": "True"}}``), fields, or a callable's import path; ``register_kind`` sets one per kind.

On a real cluster a controller writes ``status.state``. Here two small tasks stand in: one installs
the CustomResourceDefinition (if it is missing), one plays the controller and marks the object
``Done`` after a few seconds, through the status subresource. They use the hook's shared client
(``KubernetesAsyncHook.aget_client``), which is also how to write your own async Kubernetes calls.
Needs the right to create CustomResourceDefinitions (cluster-admin on a test cluster). Namespace:
see ``example_pod.py``.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from airflow.sdk import DAG, task

from airflow_k8s_async.errors import KubeConflictError
from airflow_k8s_async.hooks.kubernetes import KubernetesAsyncHook
from airflow_k8s_async.operators.job import KubernetesJobOperator
from airflow_k8s_async.operators.sync import run_sync

NAMESPACE = os.environ.get("K8S_ASYNC_EXAMPLE_NAMESPACE", "default")
GROUP = "examples.airflow-k8s-async.io"
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"sleepers.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "sleepers", "singular": "sleeper", "kind": "Sleeper"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    },
}
SLEEPER = f"""
apiVersion: {GROUP}/v1
kind: Sleeper
metadata:
  name: nap
spec:
  seconds: 8
"""


def established(crd: dict[str, Any]) -> bool:
    """Whether the API server serves the CRD's kind. Right after the POST it sends
    ``"status": {"conditions": null}``, so every level is read with ``or``, never ``.get(k, [])``."""
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


@task
def install_crd() -> None:
    """Create the CRD unless it exists, then wait until the API server serves the kind."""

    async def install() -> None:
        kube = await KubernetesAsyncHook().aget_client()
        path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        try:
            await kube.request("POST", path, body=CRD)
        except KubeConflictError:
            pass  # installed by an earlier run
        for _ in range(60):
            crd = await kube.request("GET", f"{path}/{CRD['metadata']['name']}")
            if established(crd):
                return
            await asyncio.sleep(1)
        raise RuntimeError("the Sleeper CRD was not established within 60 s")

    run_sync(install)


@task
def play_the_controller() -> None:
    """Wait for a Sleeper without a state (the operator adds a random suffix to its name), wait its
    ``spec.seconds``, then set ``status.state: Done``."""

    async def finish() -> None:
        kube = await KubernetesAsyncHook().aget_client()
        sleepers = f"/apis/{GROUP}/v1/namespaces/{NAMESPACE}/sleepers"
        deadline = time.monotonic() + 120
        while True:
            items = (await kube.request("GET", sleepers))["items"]
            if waiting := [item for item in items if not item.get("status")]:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"no Sleeper appeared in {NAMESPACE} within 120 s")
            await asyncio.sleep(1)
        name = waiting[0]["metadata"]["name"]
        print(f"controller: {name} sleeps {waiting[0]['spec']['seconds']} s")
        await asyncio.sleep(int(waiting[0]["spec"]["seconds"]))
        patch = {"status": {"state": "Done"}}
        await kube.request(
            "PATCH", f"{sleepers}/{name}/status", body=patch, content_type="application/merge-patch+json"
        )
        print(f"controller: {name} status.state = Done")

    run_sync(finish)


with DAG("example_custom_kind", schedule=None, tags=["airflow-k8s-async", "example"]):
    sleeper = KubernetesJobOperator(
        task_id="sleeper",
        namespace=NAMESPACE,
        body=SLEEPER,
        status_rule={"field": "status.state", "success": ["Done"], "failure": ["Broken"]},
        delete_policy="Always",
    )
    install_crd() >> [sleeper, play_the_controller()]
