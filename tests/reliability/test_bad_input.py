"""Mistakes users really make, one case each, on the real cluster and the test's Armada server.

Each case is run as Airflow runs a task, in this process: the operator is built (a DAG file's
parse), its templates rendered and ``execute`` called on a thread (the worker), the trigger rebuilt
from its serialized kwargs and run to its event (the triggerer), and the event handed back to the
operator (the worker's resume). For each case the task fails (or the DAG is refused at parse time)
within seconds, at the stage the case names; the error names the field or the cause, and the fix;
and no object of the task is left on the cluster (label query). docs/reliability.md carries the
same table, checked here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import TaskDeferred
from kubernetes import client

from airflow_k8s_async._kube.client import close_clients
from airflow_k8s_async._kube.hub import get_hub
from airflow_k8s_async._kube.ownership import MANAGED_BY_KEY, MANAGED_BY_VALUE
from airflow_k8s_async.armada import GrpcChannelArgs
from airflow_k8s_async.operators.armada import ArmadaOperator
from airflow_k8s_async.operators.job import KubernetesJobOperator, KubernetesLegacyJobOperator
from airflow_k8s_async.operators.pod import KubernetesPodOperator
from airflow_k8s_async.triggers.common import KubeTrigger
from tests.integration.test_pod_trigger import first_event
from tests.integration.test_rbac import TRIGGERER_ROLE, WORKER_ROLE, apply_rbac, task_context
from tests.support import kube
from tests.support.armada_server import ArmadaTestServer, JobScript

DOCS = Path(__file__).parents[2] / "docs" / "reliability.md"
Stage = Literal["parse", "submit", "wait"]
# How long a stage may take before the task has failed: "within seconds". A wait includes the
# kubelet's first try of the container (an image pull that cannot succeed, a start that fails).
BOUND: dict[Stage, float] = {"parse": 1.0, "submit": 15.0, "wait": 45.0}


@dataclass
class Bed:
    """Where a case runs: its namespace, the kubeconfigs of the worker and the triggerer, the
    Armada server's target, a folder for its files."""

    namespace: str
    worker: Path
    triggerer: Path
    armada: str
    folder: Path
    api: client.ApiClient


Maker = Callable[[Bed, str], BaseOperator]  # an operator for the bed, with this task id


@dataclass(frozen=True)
class Case:
    name: str
    kind: Literal["pod", "job", "legacy", "body", "armada"]
    mistake: str  # what the user wrote or did (the docs' column)
    stage: Stage  # where the task is refused
    says: tuple[str, ...]  # the error names these: the field or the cause, and the fix
    make: Maker
    prepare: Callable[[Bed], Bed] | None = None  # changes to the bed (identities, files)


# -------------------------------------------------------------------------------- operator makers
def _kube_defaults(bed: Bed) -> dict[str, Any]:
    return {"namespace": bed.namespace, "kubernetes_conn_id": None, "config_file": str(bed.worker)}


def _pod_defaults(bed: Bed) -> dict[str, Any]:
    return {
        **_kube_defaults(bed),
        "image": kube.IMAGE,
        "image_pull_policy": kube.PULL_POLICY,
        "cmds": ["sh", "-c", "echo hi"],
        "termination_grace_period": 1,
    }


def _armada_defaults(bed: Bed) -> dict[str, Any]:
    return {
        "name": "job",
        "channel_args": GrpcChannelArgs(target=bed.armada),
        "armada_queue": "q",
        "job_request": {"priority": 1, "pod_spec": {"containers": [{"name": "main", "image": kube.IMAGE}]}},
        "job_acknowledgement_timeout": 10,
    }


def _maker(
    cls: type[BaseOperator], defaults: Callable[[Bed], dict[str, Any]], given: dict[str, Any]
) -> Maker:
    """An operator of ``cls`` with the bed's defaults and ``given`` over them (``...``: left out)."""

    def make(bed: Bed, task_id: str) -> BaseOperator:
        keywords = {k: v for k, v in {**defaults(bed), **given}.items() if v is not ...}
        return cls(task_id=task_id, **keywords)

    return make


def pod(**given: Any) -> Maker:
    return _maker(KubernetesPodOperator, _pod_defaults, given)


def legacy(**given: Any) -> Maker:
    return _maker(KubernetesLegacyJobOperator, _pod_defaults, given)


def job(**given: Any) -> Maker:
    return _maker(
        KubernetesJobOperator, lambda bed: {**_kube_defaults(bed), "delete_policy": "Always"}, given
    )


def armada(**given: Any) -> Maker:
    return _maker(ArmadaOperator, _armada_defaults, given)


def job_body(script: str = "echo hi", *, spec: str = "", container: str = "") -> str:
    """A Job body running ``script``; ``spec`` and ``container`` add lines to the Job's spec and its
    container."""
    return f"""
apiVersion: batch/v1
kind: Job
metadata:
  name: work
spec:
  backoffLimit: 0
{spec}
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: main
          image: {kube.IMAGE}
          imagePullPolicy: {kube.PULL_POLICY}
          command: ["sh", "-c", {script!r}]
{container}
"""


def configmap(name: str) -> str:
    return f"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: b\n"


# -------------------------------------------------------------------------------- bed changes
def without(role: str, resource: str, *verbs: str) -> Callable[[Bed], Bed]:
    """The shipped roles minus ``verbs`` on ``resource``, in a namespace of the case's own."""

    def prepare(bed: Bed) -> Bed:
        namespace = kube.create_namespace(bed.api, "badrbac")
        try:
            ids = apply_rbac(bed.api, namespace, bed.folder, remove={role: (resource, verbs)})
        except BaseException:
            kube.delete_namespace(bed.api, namespace)
            raise
        return replace(bed, namespace=namespace, worker=ids.worker, triggerer=ids.triggerer)

    return prepare


def kubeconfig(change: Callable[[dict[str, Any]], None]) -> Callable[[Bed], Bed]:
    """The worker's and the triggerer's kubeconfig, changed by ``change``."""

    def prepare(bed: Bed) -> Bed:
        config = kube.kubeconfig_dict()
        change(config)
        path = bed.folder / "changed.kubeconfig"
        path.write_text(yaml.safe_dump(config))
        return replace(bed, worker=path, triggerer=path)

    return prepare


def _token(config: dict[str, Any]) -> None:
    for entry in config["users"]:
        entry["user"] = {"token": "expired-or-revoked"}


def _unreachable(config: dict[str, Any]) -> None:
    for entry in config["clusters"]:
        entry["cluster"]["server"] = "https://127.0.0.1:9"


def _file(name: str, text: str) -> Callable[[Bed], Bed]:
    def prepare(bed: Bed) -> Bed:
        (bed.folder / name).write_text(text)
        return bed

    return prepare


XCOM = "mkdir -p /airflow/xcom; {write} > /airflow/xcom/return.json"
XCOM_SIDECAR: dict[str, Any] = {"do_xcom_push": True, "xcom_sidecar_image": kube.IMAGE}
NO_BINARY = job_body().replace("""command: ["sh", "-c", 'echo hi']""", """command: ["/no/such/binary"]""")
PULL_FAILS: dict[str, Any] = {
    "image": "registry.invalid/no-such-image:1",
    "image_pull_policy": "IfNotPresent",
}
LONG = ["sh", "-c", "sleep 120"]  # outlasts the start-up grace of a 403 (an API server just started)
WIDGET = "\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"
BAD_CONFIGMAP = "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata: [1]\n"
UNCLOSED = "apiVersion: v1\nkind: Pod\nspec:\n  containers: [\n"

# fmt: off
CASES = [
    # ---- the pod operator
    Case("pod-missing-image", "pod", "no `image` and no pod template", "submit",
         ("image", "pass image="), pod(image=...)),
    Case("pod-invalid-image-reference", "pod", "`image='busybox::1.36'`", "submit",
         ("busybox::1.36", "not a valid image reference"), pod(image="busybox::1.36")),
    Case("pod-name-too-long", "pod", "a 300-character `name`", "submit",
         ("name", "at most 220"), pod(name="a" * 300)),
    Case("pod-bad-resource-quantity", "pod", "`container_resources` limit `memory: 2 GB`", "submit",
         ("limits['memory']", "'2 GB' is not a quantity"), pod(container_resources={"limits": {"memory": "2 GB"}})),
    Case("pod-bad-env-var-name", "pod", "`env_vars={'A=B': 'x'}`", "submit",
         ("env[0].name 'A=B' is invalid", "without '='"), pod(env_vars={"A=B": "x"})),
    Case("pod-duplicate-container-names", "pod", "`full_pod_spec` with two containers named `base`", "submit",
         ("container name 'base' is used twice",),
         pod(full_pod_spec={"spec": {"containers": [{"name": "base", "image": kube.IMAGE}] * 2}})),
    Case("pod-missing-namespace", "pod", "`namespace='no-such-namespace'`", "submit",
         ('namespaces "no-such-namespace" not found', "check the namespace"), pod(namespace="no-such-namespace")),
    Case("pod-on-finish-action-misspelt", "pod", "`on_finish_action='delete'`", "parse",
         ("on_finish_action='delete'", "delete_pod"), pod(on_finish_action="delete")),
    Case("pod-on-kill-action-misspelt", "pod", "`on_kill_action='keep'`", "parse",
         ("on_kill_action='keep'", "keep_pod"), pod(on_kill_action="keep")),
    Case("pod-skip-on-exit-code-wrong-type", "pod", "`skip_on_exit_code='100'`", "parse",
         ("skip_on_exit_code='100'", "[3, 100]"), pod(skip_on_exit_code="100")),
    Case("pod-template-file-and-dict", "pod", "both `pod_template_file` and `pod_template_dict`", "parse",
         ("pod_template_file and pod_template_dict", "give one"),
         pod(pod_template_file="pod.yaml", pod_template_dict={"spec": {"containers": []}})),
    Case("pod-template-file-missing", "pod", "a `pod_template_file` that does not exist", "submit",
         ("/no/such/template.yaml", "not found"), pod(pod_template_file="/no/such/template.yaml")),
    Case("pod-template-file-invalid-yaml", "pod", "a `pod_template_file` with a YAML syntax error", "submit",
         ("template.yaml", "invalid YAML at line 5"), pod(pod_template_file="{{ params.folder }}/template.yaml"),
         prepare=_file("template.yaml", UNCLOSED)),
    Case("pod-template-file-not-a-pod", "pod", "a `pod_template_file` holding a Job", "submit",
         ("holds a Job, not a Pod",), pod(pod_template_file="{{ params.folder }}/job.yaml"),
         prepare=_file("job.yaml", job_body())),
    Case("pod-missing-connection", "pod", "`kubernetes_conn_id='no_such_connection'`", "submit",
         ("connection 'no_such_connection' is not defined", "AIRFLOW_CONN_NO_SUCH_CONNECTION"),
         pod(kubernetes_conn_id="no_such_connection", config_file=...)),
    Case("pod-wrong-kubeconfig-context", "pod", "`cluster_context='no-such-context'`", "submit",
         ("context no-such-context",), pod(cluster_context="no-such-context")),
    Case("pod-kubeconfig-file-missing", "pod", "`config_file='/no/such/kubeconfig'`", "submit",
         ("no kubeconfig found at /no/such/kubeconfig", "KUBECONFIG"), pod(config_file="/no/such/kubeconfig")),
    Case("pod-unreachable-cluster", "pod", "a kubeconfig whose server does not answer", "submit",
         ("cannot reach the Kubernetes API at https://127.0.0.1:9",), pod(), prepare=kubeconfig(_unreachable)),
    Case("pod-expired-token", "pod", "a kubeconfig whose token is expired or revoked", "submit",
         ("401", "check the connection's credentials"), pod(), prepare=kubeconfig(_token)),
    Case("pod-no-rbac-to-create", "pod", "the worker may not create pods", "submit",
         ('cannot create resource "pods"', "deploy/rbac"), pod(), prepare=without(WORKER_ROLE, "pods", "create")),
    Case("pod-no-rbac-to-watch", "pod", "the triggerer may not watch pods", "wait",
         ('cannot watch resource "pods"', "deploy/rbac"), pod(cmds=LONG),
         prepare=without(TRIGGERER_ROLE, "pods", "watch")),
    Case("pod-no-rbac-to-read-logs", "pod", "the triggerer may not read pod logs", "wait",
         ('cannot get resource "pods/log"', "deploy/rbac", "get_logs=False"), pod(cmds=LONG),
         prepare=without(TRIGGERER_ROLE, "pods/log", "get")),
    Case("pod-no-rbac-to-read-logs-short", "pod", "the triggerer may not read pod logs; the pod ends at once", "wait",
         ('cannot get resource "pods/log"', "get_logs=False"), pod(), prepare=without(TRIGGERER_ROLE, "pods/log", "get")),
    Case("pod-no-rbac-to-exec", "pod", "the triggerer may not exec into pods (the XCom read)", "wait",
         ("403", "pods/exec"), pod(cmds=["sh", "-c", XCOM.format(write="echo 1")], **XCOM_SIDECAR),
         prepare=without(TRIGGERER_ROLE, "pods/exec", "get", "create")),
    Case("pod-image-not-found", "pod", "an image that cannot be pulled", "wait",
         ("ImagePullBackOff", "registry.invalid/no-such-image:1"), pod(**PULL_FAILS)),
    Case("pod-command-not-found", "pod", "`cmds=['/no/such/binary']`", "wait",
         ("/no/such/binary", "no such file"), pod(cmds=["/no/such/binary"])),
    Case("pod-secret-missing", "pod", "`env_from` a Secret that does not exist", "wait",
         ('secret "no-such-secret" not found',), pod(env_from=[{"secretRef": {"name": "no-such-secret"}}])),
    Case("pod-volume-mount-without-volume", "pod", "a `volume_mounts` entry with no such volume", "submit",
         ("volume 'data', which the pod does not declare",), pod(volume_mounts=[{"name": "data", "mountPath": "/d"}])),
    Case("pod-xcom-not-json", "pod", "a `return.json` that is not JSON", "wait",
         ("/airflow/xcom/return.json is not valid JSON",),
         pod(cmds=["sh", "-c", XCOM.format(write="echo not-json")], **XCOM_SIDECAR)),
    Case("pod-xcom-oversized", "pod", "a 60 MiB `return.json`", "wait",
         ("return.json is 62914560 bytes; the limit is", "object storage"),
         pod(cmds=["sh", "-c", XCOM.format(write="head -c 62914560 /dev/zero | tr '\\0' 1")], **XCOM_SIDECAR)),
    Case("pod-bad-startup-timeout", "pod", "`startup_timeout_seconds='ten'`", "parse",
         ("startup_timeout_seconds='ten'", "number of seconds"), pod(startup_timeout_seconds="ten")),
    Case("pod-invalid-label", "pod", "`labels={'team name': 'a'}`", "submit",
         ("labels key 'team name' is invalid",), pod(labels={"team name": "a"})),
    Case("pod-bad-max-log-bytes", "pod", "`max_log_bytes='10MB'`", "parse",
         ("max_log_bytes='10MB'", "number of bytes"), pod(max_log_bytes="10MB")),
    # ---- the Job operator (a body of YAML)
    Case("job-invalid-yaml", "job", "a `body` with a YAML syntax error", "submit",
         ("invalid YAML at line 5",), job(body="apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: x\nspec: [\n")),
    Case("job-unknown-kind", "job", "`kind: Jobb`", "submit",
         ("kind Jobb not found in apiVersion batch/v1",), job(body=job_body().replace("kind: Job", "kind: Jobb"))),
    Case("job-crd-not-installed", "job", "a custom kind whose CRD is not installed", "submit",
         ("kind Widget not found in apiVersion example.com/v1", "CRD"), job(body=job_body() + WIDGET)),
    Case("job-body-without-kind", "job", "a resource with no `kind`", "submit",
         ("kind is missing",), job(body=job_body().replace("kind: Job\n", ""))),
    Case("job-bad-field-value", "job", "`backoffLimit: two`", "submit",
         ("BackoffLimit", "HTTP 400"), job(body=job_body().replace("backoffLimit: 0", "backoffLimit: two"))),
    Case("job-kube-api-xcom-malformed", "job", "a `::kube_api:xcom={not json` line", "wait",
         ("::kube_api:xcom= line", "could not be read"), job(body=job_body("echo '::kube_api:xcom={not json'"))),
    Case("job-delete-policy-misspelt", "job", "`delete_policy='Allways'`", "parse",
         ("delete_policy='Allways'", "IfSucceeded"), job(body=job_body(), delete_policy="Allways")),
    Case("job-body-filepath-missing", "job", "a `body_filepath` that does not exist", "submit",
         ("/no/such/body.yaml", "no such file"), job(body_filepath="/no/such/body.yaml")),
    Case("job-no-body-no-image", "job", "neither `body` nor `image`", "submit",
         ("give a body, a body_filepath, or an image",), job()),
    Case("job-command-not-found", "job", "a Job whose command does not exist", "wait",
         ("/no/such/binary", "no such file"), job(body=NO_BINARY)),
    Case("job-bad-startup-timeout", "job", "`startup_timeout_seconds=-5`", "parse",
         ("startup_timeout_seconds=-5",), job(body=job_body(), startup_timeout_seconds=-5)),
    # ---- the legacy Job operator (the pod operator's keywords, run as a Job)
    Case("legacy-do-xcom-push", "legacy", "`do_xcom_push=True` (a Job has no XCom sidecar)", "parse",
         ("do_xcom_push", "::kube_api:xcom="), legacy(do_xcom_push=True)),
    Case("legacy-bad-backoff-limit", "legacy", "`backoff_limit=-1`", "submit",
         ("spec.backoffLimit", "must be greater than or equal to 0"), legacy(backoff_limit=-1)),
    Case("legacy-job-template-file-missing", "legacy", "a `job_template_file` that does not exist", "submit",
         ("/no/such/job.yaml", "not found"), legacy(job_template_file="/no/such/job.yaml")),
    Case("legacy-image-not-found", "legacy", "an image that cannot be pulled", "wait",
         ("ImagePullBackOff", "registry.invalid/no-such-image:1"), legacy(**PULL_FAILS)),
    # ---- several resources in one body
    Case("body-duplicate-names", "body", "two ConfigMaps named `settings` in one body", "submit",
         ("the same ConfigMap as resources[1]",), job(body=job_body() + configmap("settings") * 2)),
    Case("body-empty", "body", "an empty `body`", "submit",
         ("body holds no resources",), job(body="---\n")),
    Case("body-bad-resource", "body", "a ConfigMap whose `data` is a list", "submit",
         ("creating resource 2 of 2", "the 1 created before it were deleted"), job(body=job_body() + BAD_CONFIGMAP)),
    # ---- Armada
    Case("armada-queue-missing", "armada", "`armada_queue=''`", "parse",
         ("armada_queue is required",), armada(armada_queue="")),
    Case("armada-invalid-job-request", "armada", "a `job_request` whose `pod_specs` is not a list", "submit",
         ("job_request is not a valid JobSubmitRequestItem", "pod_specs"),
         armada(job_request={"priority": 1, "pod_specs": {}})),
    Case("armada-channel-args-not-grpc", "armada", "`channel_args={'target': ...}` (a dict)", "parse",
         ("GrpcChannelArgs(target=",), armada(channel_args={"target": "x:1"})),
    Case("armada-unreachable-server", "armada", "an Armada server that does not answer", "submit",
         ("127.0.0.1:9",), armada(channel_args=GrpcChannelArgs(target="127.0.0.1:9"))),
]
# fmt: on
CASES_BY_NAME = {case.name: case for case in CASES}
assert len(CASES_BY_NAME) == len(CASES), "case names are unique"


# -------------------------------------------------------------------------------- running a case
@dataclass
class Outcome:
    stage: Stage | Literal["succeeded"]
    error: BaseException | None
    seconds: float

    @property
    def message(self) -> str:
        return "" if self.error is None else f"{type(self.error).__name__}: {self.error}"


def _execute(operator: BaseOperator, context: dict[str, Any]) -> TaskDeferred | None:
    try:
        operator.execute(context)  # type: ignore[arg-type]
    except TaskDeferred as deferred:
        return deferred
    return None


async def run_task(case: Case, bed: Bed) -> Outcome:
    """The case as Airflow runs a task: parse, worker, triggerer, worker."""
    started = time.monotonic()

    def outcome(stage: Stage | Literal["succeeded"], error: BaseException | None) -> Outcome:
        return Outcome(stage, error, time.monotonic() - started)

    try:
        operator = case.make(bed, case.name)
    except Exception as error:
        return outcome("parse", error)
    context = task_context(case.name)
    context["ti"].max_tries = 0
    context["params"] = {"folder": str(bed.folder)}
    started = time.monotonic()
    try:
        operator.render_template_fields(context)  # type: ignore[arg-type]
        deferred = await asyncio.to_thread(_execute, operator, context)
    except Exception as error:
        return outcome("submit", error)
    if deferred is None:
        return outcome("succeeded", None)
    trigger = deferred.trigger
    assert isinstance(trigger, KubeTrigger) or case.kind == "armada"
    _, kwargs = trigger.serialize()
    if "config_file" in kwargs:
        kwargs["config_file"] = str(bed.triggerer)
    if "finish" in kwargs:
        kwargs["finish"] = None  # the event resumes the operator here (no task instance to end)
    event = await first_event(type(trigger)(**kwargs), timeout=BOUND["wait"] + 30)
    try:
        await asyncio.to_thread(getattr(operator, deferred.method_name), context, event)
    except Exception as error:
        return outcome("wait", error)
    return outcome("succeeded", None)


# -------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def armada_server() -> Iterator[ArmadaTestServer]:
    server = ArmadaTestServer(scenarios={"": JobScript()}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bad_namespace(kube_api: client.ApiClient) -> Iterator[str]:
    name = kube.create_namespace(kube_api, "badinput")
    yield name
    kube.delete_namespace(kube_api, name)


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    await get_hub().close()
    await close_clients()


def leftovers(api: client.ApiClient, namespace: str, task_id: str) -> dict[str, list[str]]:
    found = kube.owned(api, namespace, f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE},task_id={task_id}")
    return {kind: names for kind, names in found.items() if names}


@pytest.mark.parametrize("case", CASES, ids=[f"bad_input-{case.name}" for case in CASES])
async def test_bad_input(
    case: Case,
    kube_api: client.ApiClient,
    bad_namespace: str,
    armada_server: ArmadaTestServer,
    tmp_path: Path,
) -> None:
    bed = Bed(
        namespace=bad_namespace,
        worker=kube.kubeconfig_path(),
        triggerer=kube.kubeconfig_path(),
        armada=armada_server.target,
        folder=tmp_path,
        api=kube_api,
    )
    try:
        if case.prepare is not None:
            bed = await asyncio.to_thread(case.prepare, bed)
        result = await run_task(case, bed)
        print(f"\n{case.name}: {result.stage} in {result.seconds:.1f}s: {result.message}")
        assert result.stage == case.stage, f"refused at {result.stage}, not {case.stage}: {result.message}"
        assert result.seconds < BOUND[case.stage], f"took {result.seconds:.1f}s: {result.message}"
        missing = [words for words in case.says if words.lower() not in result.message.lower()]
        assert not missing, f"the error does not say {missing}: {result.message}"
        left = await asyncio.to_thread(
            kube.eventually, lambda: not leftovers(kube_api, bed.namespace, case.name) or None, timeout=30
        )
        assert left
    finally:
        if bed.namespace != bad_namespace:
            await asyncio.to_thread(kube.delete_namespace, kube_api, bed.namespace)


def test_there_are_at_least_40_cases_across_every_operator() -> None:
    assert len(CASES) >= 40
    assert {case.kind for case in CASES} == {"pod", "job", "legacy", "body", "armada"}


def test_docs_carry_the_same_table() -> None:
    """docs/reliability.md lists the same cases, row for row (regenerate: ``python -m
    tests.reliability.test_bad_input``)."""
    documented = [line for line in DOCS.read_text().splitlines() if line.startswith("| `bad_input-")]
    assert documented == docs_rows()


def docs_rows() -> list[str]:
    """The rows of docs/reliability.md's bad-input table, as this table makes them."""
    return [
        f"| `bad_input-{case.name}` | {case.kind} | {case.mistake} | {case.stage} | "
        + "; ".join(f"`{words}`" if "`" not in words else words for words in case.says)
        + " |"
        for case in CASES
    ]


if __name__ == "__main__":  # python -m tests.reliability.test_bad_input: the table for the docs
    print("\n".join(docs_rows()))
