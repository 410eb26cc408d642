"""The API server side: namespaces, the node check, and request counts from ``/metrics``."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter

from airflow_k8s_async._kube.client import KubeClient
from airflow_k8s_async.errors import KubeNotFoundError

# resources whose requests are the contenders' (and the bench kubelet's, taken out)
COUNTED = ("pods", "jobs", "events")
_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


async def request_totals(client: KubeClient) -> Counter[str]:
    """``apiserver_request_total`` summed by "VERB resource[/subresource]" for COUNTED resources."""
    text = await client.request("GET", "/metrics", content_type="text/plain")
    totals: Counter[str] = Counter()
    for line in str(text).splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        if labels.get("resource") not in COUNTED:
            continue
        resource = labels["resource"] + (f"/{labels['subresource']}" if labels.get("subresource") else "")
        totals[f"{labels.get('verb', '')} {resource}"] += int(float(match["value"]))
    return totals


async def node_names(client: KubeClient) -> list[str]:
    answer = await client.request("GET", "/api/v1/nodes")
    return [str(item["metadata"]["name"]) for item in answer.get("items") or []]


async def create_namespace(client: KubeClient, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    await client.request("POST", "/api/v1/namespaces", body={"metadata": {"name": name}})
    for _ in range(600):  # pods are admitted once the namespace's service account exists
        try:
            await client.request("GET", f"/api/v1/namespaces/{name}/serviceaccounts/default")
            return name
        except KubeNotFoundError:
            await asyncio.sleep(0.1)
    raise TimeoutError(f"namespace {name}: no default service account after 60 s")


async def delete_namespace(client: KubeClient, name: str, *, wait: float) -> bool:
    """Delete and wait until it is gone (so its teardown does not fall into the next run)."""
    await client.delete(f"/api/v1/namespaces/{name}")
    loop = asyncio.get_running_loop()
    until = loop.time() + wait
    while loop.time() < until:
        try:
            await client.request("GET", f"/api/v1/namespaces/{name}")
        except KubeNotFoundError:
            return True
        await asyncio.sleep(1)
    return False
