"""The bench kubelet: its own process and one client; creates the objects, then plays the schedule.

    python -m bench.kubelet --spec SPEC.json

It creates the objects (Pending; a Job's pod right after its Job), writes ``objects.json``
(name -> uid), waits for the ``go`` file (the orchestrator writes it once the contender is
ready), then patches the status subresource as the schedule says. Each terminal patch's send
time goes to ``patches.jsonl`` (the start of detection latency); its own requests, counted here
by verb and resource as the API server counts them, go to ``kubelet.json`` so they can be taken
out of the API server's totals.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from airflow_k8s_async._kube.client import KubeClient
from airflow_k8s_async._kube.cluster import ClusterConfig
from bench.schedule import Step, Timing, make_schedule
from bench.workload import WORKLOADS, Workload

CREATE_IN_FLIGHT = 16  # modest: the creation burst is not what is measured
MERGE_PATCH = "application/merge-patch+json"


async def _create(
    client: KubeClient, workload: Workload, namespace: str, steps: list[Step]
) -> dict[str, str]:
    gate = asyncio.Semaphore(CREATE_IN_FLIGHT)
    uids: dict[str, str] = {}

    async def one(step: Step) -> None:
        async with gate:
            created = await client.request("POST", workload.path(namespace), body=workload.body(step.name))
            uid = uids[step.name] = str(created["metadata"]["uid"])
            companion = workload.companion(step.name, uid)
            if companion is not None:
                collection, body = companion
                await client.request("POST", collection.format(namespace=namespace), body=body)

    await asyncio.gather(*(one(step) for step in steps))
    return uids


async def _play(
    client: KubeClient, workload: Workload, namespace: str, steps: list[Step], go: float, out: Path
) -> Counter[str]:
    """Plays the schedule; returns the status patches sent, by "PATCH <resource>/status"."""
    loop = asyncio.get_running_loop()
    offset = go - time.time()  # the schedule runs on the loop's monotonic clock from `go`
    origin = loop.time() + offset
    patches: list[dict[str, Any]] = []
    played: Counter[str] = Counter()

    async def move(moves: list[tuple[str, str, dict[str, Any]]]) -> float:
        """Sends the patches in order; returns the send time of the last (the object's own)."""
        sent = 0.0
        for collection, name, body in moves:
            path = f"{collection.format(namespace=namespace)}/{name}/status"
            sent = time.time()
            await client.request("PATCH", path, body=body, content_type=MERGE_PATCH)
            played[f"PATCH {collection.rsplit('/', 1)[-1]}/status"] += 1
        return sent

    async def one(step: Step) -> None:
        await asyncio.sleep(max(0.0, origin + step.start - loop.time()))
        await move(workload.patches(step.name, terminal=False))
        await asyncio.sleep(max(0.0, origin + step.end - loop.time()))
        sent = await move(workload.patches(step.name, terminal=True, fails=step.fails))
        patches.append({"name": step.name, "sent": sent, "done": time.time(), "fails": step.fails})

    await asyncio.gather(*(one(step) for step in steps))
    with out.open("w") as fh:
        for row in patches:
            fh.write(json.dumps(row) + "\n")
    return played


def _go_time(path: Path) -> float:
    """Wait (in a thread) for the go file; its content is the schedule's time zero."""
    while not path.exists():
        time.sleep(0.05)
    return float(path.read_text())


async def main(spec: dict[str, Any], workdir: Path) -> None:
    workload = WORKLOADS[spec["kind"]]
    namespace = spec["namespace"]
    steps = make_schedule(count=spec["count"], timing=Timing(**spec["timing"]), seed=spec["seed"])
    client = await KubeClient.connect(cluster=ClusterConfig(config_file=spec["kubeconfig"]))
    try:
        uids = await _create(client, workload, namespace, steps)
        created = dict(client.requests)
        (workdir / "objects.json").write_text(json.dumps(uids))
        go_file = workdir / "go"
        go = await asyncio.to_thread(_go_time, go_file)  # set once the contender is ready
        played = await _play(client, workload, namespace, steps, go, workdir / "patches.jsonl")
        (workdir / "kubelet.json").write_text(json.dumps({"create": created, "play": dict(played)}))
    finally:
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(main(json.loads(args.spec.read_text()), args.spec.parent))
