"""Run the benchmark: every (workload, N, contender) against the same API server, then report.

    python -m bench.run [--sizes 100,1000,10000] [--kinds pod,job] [--contenders ours,cncf] ...

See bench/README.md. Each run gets a fresh namespace, a bench kubelet process and a contender
process; raw files stay in bench/work/<stamp>/, figures go to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airflow_k8s_async._kube.client import KubeClient
from airflow_k8s_async._kube.cluster import ClusterConfig
from bench import apiserver, harness
from bench.contenders import CONTENDERS, ROOT, Contender
from bench.figures import compute
from bench.harness import PROJECT_PYTHON, spawn, wait_for
from bench.schedule import Timing, make_schedule

CONN_ID = "kubernetes_default"
TRIGGERER_SETUP_SECONDS = 300  # db migrate, reserialize, start and idle baseline of a triggerer
SWITCH = "../shared/k8s-local/down.sh; K8S_LOCAL_NODE=0 ../shared/k8s-local/up.sh"


@dataclasses.dataclass(frozen=True)
class Plan:
    kinds: list[str]
    sizes: list[int]
    contenders: list[str]
    timing: Timing
    seed: int
    kubeconfig: str
    workdir: Path
    grace: float  # seconds a contender may take past the schedule's last end
    triggerer_sizes: list[int]  # the sizes at which *-triggerer contenders run


def _contender_env(kubeconfig: str, home: Path) -> dict[str, str]:
    env = harness.contender_env(home)
    env.pop("KUBECONFIG", None)  # the connection says where the cluster is, for both contenders
    env["AIRFLOW_CONN_KUBERNETES_DEFAULT"] = json.dumps(
        {"conn_type": "kubernetes", "extra": {"kube_config_path": kubeconfig}}
    )
    return env


async def run_one(
    client: KubeClient, plan: Plan, kind: str, count: int, contender: Contender
) -> dict[str, Any]:
    steps = make_schedule(count=count, timing=plan.timing, seed=plan.seed)
    workdir = plan.workdir / f"{kind}-{count}-{contender.name}"
    workdir.mkdir(parents=True)
    namespace = await apiserver.create_namespace(client, f"bench-{kind}-{count}-{contender.name}")
    spec = {
        "kind": kind,
        "count": count,
        "namespace": namespace,
        "timing": dataclasses.asdict(plan.timing),
        "seed": plan.seed,
        "kubeconfig": plan.kubeconfig,
        "module": contender.module,
        "conn_id": CONN_ID,
        "api_port": urlsplit(client.host).port or 443,
        "timeout": max(s.end for s in steps) + plan.grace,
        "python": str(contender.python),
    }
    spec_path = harness.write_spec(workdir, spec)
    print(f"[bench] {kind} N={count} {contender.name}: namespace {namespace}", flush=True)
    kubelet = contender_proc = None
    try:
        kubelet = harness.spawn_workload("bench.kubelet", spec_path, workdir / "kubelet.log")
        await asyncio.to_thread(
            wait_for, workdir / "objects.json", kubelet, "bench kubelet", 600 + count / 10
        )
        before = await apiserver.request_totals(client)
        with tempfile.TemporaryDirectory(prefix="bench-airflow-") as home:
            # the triggerer mode's driver runs in .venv and starts `airflow` from the contender's
            contender_proc = spawn(
                PROJECT_PYTHON if contender.triggerer else contender.python,
                "bench.triggerer" if contender.triggerer else "bench.contender",
                spec_path,
                workdir / "contender.log",
                _contender_env(plan.kubeconfig, Path(home)),
            )
            setup = TRIGGERER_SETUP_SECONDS if contender.triggerer else 0
            await asyncio.to_thread(
                wait_for, workdir / "ready", contender_proc, contender.name, 600 + setup + count / 5
            )
            ready = await apiserver.request_totals(client)
            (workdir / "go").write_text(str(time.time()))
            code = await asyncio.to_thread(contender_proc.wait)
            harness.check_exit(code, contender.name, workdir / "contender.log")
        code = await asyncio.to_thread(kubelet.wait)
        harness.check_exit(code, "bench kubelet", workdir / "kubelet.log")
        await asyncio.sleep(1)  # a watch is counted when it ends: let the server see the contender's close
        after = await apiserver.request_totals(client)
    finally:
        harness.kill((contender_proc, kubelet))
        gone = await apiserver.delete_namespace(client, namespace, wait=300 + count / 20)
        if not gone:
            print(f"[bench] namespace {namespace} still terminating", flush=True)
    figures = compute(
        steps=steps,
        contender=json.loads((workdir / "contender.json").read_text()),
        patches=[json.loads(line) for line in (workdir / "patches.jsonl").read_text().splitlines()],
        kubelet=json.loads((workdir / "kubelet.json").read_text()),
        server={"before": dict(before), "ready": dict(ready), "after": dict(after)},
    )
    figures.update(
        kind=kind,
        n=count,
        contender=contender.name,
        label=contender.label,
        family=contender.family,
        mode="triggerer" if contender.triggerer else "loop",
        namespace=namespace,
    )
    (workdir / "figures.json").write_text(json.dumps(figures, indent=1))
    print(
        f"[bench] {kind} N={count} {contender.name}: {figures['correct']}/{count} right, "
        f"p99 {figures['latency']['p99']}, req/pod-min {figures['requests_per_pod_minute']['client_steady']}",
        flush=True,
    )
    return figures


async def run_all(plan: Plan, *, allow_node: bool) -> list[dict[str, Any]]:
    client = await KubeClient.connect(cluster=ClusterConfig(config_file=plan.kubeconfig))
    try:
        nodes = await apiserver.node_names(client)
        if nodes and not allow_node:
            raise SystemExit(
                f"the cluster has nodes ({', '.join(nodes)}): the full benchmark runs on a control plane "
                f"only, so that no kubelet, scheduler or pod traffic shares the API server. Switch with:\n"
                f"  {SWITCH}\nor pass --allow-node to measure anyway (figures are then noisier)."
            )
        if nodes:
            print(
                f"[bench] WARNING: nodes present ({', '.join(nodes)}); figures include their noise",
                flush=True,
            )
        results = []
        for kind in plan.kinds:
            for count in plan.sizes:
                for name in plan.contenders:
                    contender = CONTENDERS[name]
                    if contender.triggerer and count not in plan.triggerer_sizes:
                        continue
                    if kind in contender.kinds:
                        results.append(await run_one(client, plan, kind, count, contender))
        return results
    finally:
        await client.close()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark our triggers beside the anchors' on a real API server."
    )
    parser.add_argument("--sizes", default="100,1000,10000", help="object counts, comma-separated")
    parser.add_argument("--kinds", default="pod,job", help="workloads: pod, job")
    parser.add_argument(
        "--contenders", default="ours,cncf,ours-triggerer,cncf-triggerer", help=f"of {', '.join(CONTENDERS)}"
    )
    parser.add_argument(
        "--triggerer-sizes",
        default="1000",
        help="sizes (of --sizes) at which the *-triggerer contenders run, comma-separated",
    )
    harness.add_schedule_args(parser, running="Running", grace=600)
    parser.add_argument("--allow-node", action="store_true", help="run although the cluster has a node")
    parser.add_argument("--name", default="", help="suffix of the result file, e.g. smoke-sample")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--json-only", action="store_true", help="write results JSON, skip the report")
    args = parser.parse_args(argv)
    harness.check_contenders(parser, args.contenders, CONTENDERS)
    if not os.environ.get("KUBECONFIG"):
        parser.error(
            "KUBECONFIG is not set: export KUBECONFIG=/var/cache/k8s-local/kubeconfig (or your cluster's)"
        )
    return args


def main(argv: list[str]) -> Path:
    args = parse_args(argv)
    stamp = harness.stamp()
    plan = Plan(
        kinds=args.kinds.split(","),
        sizes=[int(n) for n in args.sizes.split(",")],
        contenders=args.contenders.split(","),
        timing=harness.timing(args),
        seed=args.seed,
        kubeconfig=os.environ["KUBECONFIG"].split(os.pathsep)[0],
        workdir=ROOT / "bench" / "work" / stamp,
        grace=args.grace,
        triggerer_sizes=[int(n) for n in args.triggerer_sizes.split(",")],
    )
    results = asyncio.run(run_all(plan, allow_node=args.allow_node))
    return harness.write_results(
        plan.workdir, results, stamp=stamp, timing=plan.timing, seed=plan.seed, argv=argv
    )


if __name__ == "__main__":
    main(sys.argv[1:])
