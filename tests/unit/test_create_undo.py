"""Creating in order, all or none, when the cancel lands in the middle of a POST that the server
carried out (the answer lost): that object is found by name and this try's labels and deleted with
the others. A fake API (kmock), because the real one cannot be made to lose an answer on cue."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import kmock
import pytest

from airflow_k8s_async._kube.client import close_clients, get_client
from airflow_k8s_async._kube.cluster import ClusterConfig
from airflow_k8s_async._kube.subscription import Resource
from airflow_k8s_async.operators.jobcreate import create_all
from tests.unit.fake_api import ok, status
from tests.unit.test_watch_faults import kubeconfig

CONFIGMAPS = Resource(group="", version="v1", plural="configmaps", kind="ConfigMap")
PATH = "/api/v1/namespaces/ns/configmaps"
LABELS = {"try_number": "1", "airflow-k8s-async/task": "t"}


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def _add(self, msg: str, *args: object) -> None:
        self.lines.append(msg % args)

    debug = info = warning = error = _add


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": name}}


@pytest.mark.parametrize("adopt", [False, True])
async def test_a_cancel_during_a_post_the_server_carried_out_deletes_that_object_too(
    kmock: kmock.RawHandler, adopt: bool
) -> None:
    """``adopt`` (a start in the triggerer, cancelled as the triggerer stops): nothing is deleted,
    the next triggerer takes the objects over by name and labels."""
    stored: dict[str, dict[str, Any]] = {}
    deleted: list[str] = []
    second_made = asyncio.Event()

    async def post(request: kmock.Request) -> kmock.Response:
        body = dict(request.data)
        name = body["metadata"]["name"]
        stored[name] = {**body, "metadata": {**body["metadata"], "uid": f"uid-{name}"}}
        if name == "c2":  # made, and the answer never comes
            second_made.set()
            await asyncio.Event().wait()
        return ok(stored[name])

    def get(request: kmock.Request) -> kmock.Response:
        name = str(request.url).rstrip("/").split("/")[-1].split("?")[0]
        return ok(stored[name]) if name in stored else status(404, "NotFound")

    def delete(request: kmock.Request) -> kmock.Response:
        name = str(request.url).rstrip("/").split("/")[-1].split("?")[0]
        deleted.append(name)
        return ok(stored.pop(name))

    kmock[f"post {PATH}"] << post
    kmock[kmock.method("get"), kmock.path(re.compile(f"^{PATH}/[^/]+$"))] << get
    kmock[kmock.method("delete"), kmock.path(re.compile(f"^{PATH}/[^/]+$"))] << delete
    client = await get_client(ClusterConfig.from_kubeconfig_dict(kubeconfig(str(kmock.url).rstrip("/"), "t")))
    log = Log()
    try:
        creating = asyncio.create_task(
            create_all(
                client,
                {("v1", "ConfigMap"): CONFIGMAPS},
                [configmap("c1"), configmap("c2"), configmap("c3")],
                namespace="ns",
                labels=LABELS,
                adopt=adopt,
                log=log,
            )
        )
        await asyncio.wait_for(second_made.wait(), 10)
        creating.cancel()  # a timeout or a kill on the worker, while the second POST is out
        done, _ = await asyncio.wait([creating], timeout=10)
        assert done and creating.cancelled()
        if adopt:
            assert (deleted, sorted(stored)) == ([], ["c1", "c2"]), log.lines
        else:
            assert (sorted(deleted), stored) == (["c1", "c2"], {}), log.lines
    finally:
        await close_clients()
