"""KubernetesJobOperator / KubernetesLegacyJobOperator without a cluster."""

from __future__ import annotations

import ast
import dataclasses
import datetime
import inspect
import logging
import os
from pathlib import Path
from typing import Any

import pytest
import structlog
import structlog.testing
from kubernetes.client import models as k8s

from airflow_k8s_async._kube.podspec import PodKeywords
from airflow_k8s_async._kube.states import job_state
from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.operators import jobkeywords
from airflow_k8s_async.operators.job import KubeApiEvent, KubernetesJobOperator, KubernetesLegacyJobOperator
from airflow_k8s_async.triggers.job import KubernetesJobTrigger
from airflow_k8s_async.triggers.logstream import wanted_containers
from tests.unit.test_pod_operator import PROVIDER_KEYWORDS

BODY = """
apiVersion: batch/v1
kind: Job
metadata:
  name: work
  annotations: {}
spec:
  template:
    metadata:
      annotations:
        kubernetes_job_operator.main_container: main
    spec:
      containers:
        - name: sidecar
          image: busybox:local
        - name: main
          image: busybox:local
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: "1"
"""


def test_body_overrides_land_on_the_main_container_and_names_are_shared() -> None:
    op = KubernetesJobOperator(
        task_id="t",
        body=BODY,
        image="other:2",
        command=["run"],
        envs={"K": "v"},
        parallelism=2,
        completions=2,
    )
    job, config_map = op.build_resources()
    sidecar, main = job["spec"]["template"]["spec"]["containers"]
    assert main["image"] == "other:2" and main["command"] == ["run"] and sidecar["image"] == "busybox:local"
    assert {"name": "K", "value": "v"} in main["env"]
    names = [job["metadata"]["name"], config_map["metadata"]["name"]]
    resources_env = next(e for e in main["env"] if e["name"] == "KUBERNETES_JOB_OPERATOR_RESOURCES")
    assert resources_env["value"] == " ".join(names)
    assert names[0].startswith("t-work-") and names[1].startswith("t-settings-")
    assert names[0].rsplit("-", 1)[1] == names[1].rsplit("-", 1)[1]  # one random postfix
    assert job["spec"]["parallelism"] == 2 and job["spec"]["backoffLimit"] == 0


def test_image_only_task_makes_a_job() -> None:
    (job,) = KubernetesJobOperator(task_id="img", image="busybox:local", command=["true"]).build_resources()
    assert job["kind"] == "Job"
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:local"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"body": "apiVersion: v1\nkind: [Pod\n"}, "invalid YAML at line 3"),
        ({"body": BODY.replace("name: settings", "name: Bad_Name")}, "Bad_Name"),
        (
            {"body": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", "parallelism": 2},
            "apply to a Job",
        ),
        ({}, "give a body"),
        # The first resource is the one waited on: one that never ends would wait forever.
        ({"body": BODY.split("---")[1] + "---" + BODY.split("---")[0]}, "a ConfigMap never finishes"),
        ({"body": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"}, "Deployment never"),
    ],
)
def test_bad_bodies_fail_before_the_cluster(kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigurationError, match=error):
        KubernetesJobOperator(task_id="t", **kwargs).build_resources()


def test_a_first_resource_that_never_ends_is_fine_with_a_rule() -> None:
    body = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n"
    rule = {"condition": {"type": "Available", "status": "True"}}
    (deployment,) = KubernetesJobOperator(task_id="t", body=body, status_rule=rule).build_resources()
    assert deployment["kind"] == "Deployment"


def test_refused_at_parse_time() -> None:
    with pytest.raises(ConfigurationError, match="delete_policy"):
        KubernetesJobOperator(task_id="t", image="x:1", delete_policy="Sometimes")
    with pytest.raises(ConfigurationError, match="not both"):
        KubernetesJobOperator(task_id="t", body=BODY, body_filepath="x.yaml")
    with pytest.raises(ConfigurationError, match=r"status rule|field"):
        KubernetesJobOperator(task_id="t", body=BODY, status_rule={"field": "status.x"})
    with pytest.raises(ConfigurationError, match="::kube_api:xcom"):
        KubernetesLegacyJobOperator(task_id="t", image="x:1", do_xcom_push=True)


def test_legacy_operator_wraps_the_pod_operators_pod_in_a_job() -> None:
    op = KubernetesLegacyJobOperator(
        task_id="legacy",
        image="busybox:local",
        cmds=["sh", "-c"],
        arguments=["echo hi"],
        env_vars={"X": "1"},
        completions=3,
        active_deadline_seconds=30,
        random_name_suffix=False,
    )
    (job,) = op.build_resources()
    assert job["metadata"]["name"] == "legacy"
    assert (
        job["spec"]["completions"],
        job["spec"]["activeDeadlineSeconds"],
        job["spec"]["backoffLimit"],
    ) == (
        3,
        30,
        0,
    )
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["sh", "-c"] and container["env"] == [{"name": "X", "value": "1"}]
    assert "activeDeadlineSeconds" not in job["spec"]["template"]["spec"]  # the Job's, not the pod's


class RecordingTaskInstance:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, *, key: str, value: Any) -> None:
        self.pushed[key] = value


def job_trigger_kwargs(op: Any) -> tuple[str, dict[str, Any]]:
    """The serialized trigger the operator would defer to, once it has created Job ns/j."""
    run = op._new_run(op._target())
    run.created = [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "namespace": "ns", "uid": "u", "path": "/p"}
    ]
    trigger = op._run_trigger(run, {"ti": RecordingTaskInstance()})
    assert isinstance(trigger, KubernetesJobTrigger)
    return trigger.serialize()


def test_kube_api_lines_become_xcoms_and_callbacks() -> None:
    seen: list[KubeApiEvent] = []
    op = KubernetesJobOperator(
        task_id="t",
        body=BODY,
        delete_policy="Never",
        on_kube_api_event=lambda event, context: seen.append(event),
    )
    ti = RecordingTaskInstance()
    event = {
        "status": "success",
        "kind": "Job",
        "name": "j",
        "namespace": "ns",
        "kube_api_events": [
            {"name": "xcom", "value": '{"a": 2, "b": [1]}', "pod": "j-1", "container": "main"},
            {"name": "progress", "value": "50%", "pod": "j-1", "container": "main"},
        ],
    }
    op.execute_complete({"ti": ti}, event)  # type: ignore[arg-type]
    assert ti.pushed == {"a": 2, "b": [1]}
    assert [(e.name, e.value) for e in seen] == [("xcom", '{"a": 2, "b": [1]}'), ("progress", "50%")]


def test_failure_message_names_the_exit_code() -> None:
    op = KubernetesJobOperator(task_id="t", body=BODY, delete_policy="Never")
    event = {
        "status": "failed",
        "kind": "Job",
        "name": "j",
        "namespace": "ns",
        "reason": "BackoffLimitExceeded",
        "message": "Job has reached the specified backoff limit",
        "exit_code": 2,
        "last_log_lines": ["[j-1] bad"],
    }
    with pytest.raises(Exception, match="exit code 2 \\(BackoffLimitExceeded\\)"):
        op.execute_complete({"ti": RecordingTaskInstance()}, event)  # type: ignore[arg-type]


def test_mount_files_from_secret_mounts_keys_as_files_in_the_main_container() -> None:
    op = KubernetesJobOperator(
        task_id="t",
        body=BODY,
        mount_files_from_secret={"creds": {"token": "/etc/creds/token", "ca": "/etc/ca.pem"}},
    )
    job, _ = op.build_resources()
    spec = job["spec"]["template"]["spec"]
    sidecar, main = spec["containers"]
    assert spec["volumes"] == [{"name": "secret-files-creds", "secret": {"secretName": "creds"}}]
    assert main["volumeMounts"] == [
        {"name": "secret-files-creds", "mountPath": "/etc/creds/token", "subPath": "token", "readOnly": True},
        {"name": "secret-files-creds", "mountPath": "/etc/ca.pem", "subPath": "ca", "readOnly": True},
    ]
    assert "volumeMounts" not in sidecar
    with pytest.raises(ConfigurationError, match="mount_files_from_secret"):
        KubernetesJobOperator(task_id="t", body=BODY, mount_files_from_secret={"creds": "/etc/x"})


def test_provider_style_keywords_build_the_jobs_pod() -> None:
    from kubernetes.client import models as k8s

    op = KubernetesJobOperator(
        task_id="prov",
        image="busybox:local",
        cmds=["sh", "-c"],
        arguments=["echo $GREETING"],
        env_vars=[k8s.V1EnvVar(name="GREETING", value="{{ ds }}")],
        volumes=[k8s.V1Volume(name="scratch", empty_dir=k8s.V1EmptyDirVolumeSource())],
        volume_mounts=[k8s.V1VolumeMount(name="scratch", mount_path="/scratch")],
        parallelism=2,
        completions=2,
        backoff_limit=3,
    )
    op.render_template_fields({"ds": "2026-11-21"})
    (job,) = op.build_resources()
    spec = job["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    assert (spec["parallelism"], spec["completions"], spec["backoffLimit"]) == (2, 2, 3)
    assert container["command"] == ["sh", "-c"] and container["args"] == ["echo $GREETING"]
    assert {"name": "GREETING", "value": "2026-11-21"} in container["env"]  # rendered by Jinja
    assert container["volumeMounts"] == [{"name": "scratch", "mountPath": "/scratch"}]
    assert spec["template"]["spec"]["volumes"] == [{"name": "scratch", "emptyDir": {}}]
    with pytest.raises(ConfigurationError, match="with a body"):
        KubernetesJobOperator(task_id="t", body=BODY, cmds=["x"]).build_resources()


# -- migration: every keyword of the anchors' Job operators ------------------------------------------

# KubernetesJobOperator.__init__ keywords of apache-airflow-providers-cncf-kubernetes 10.25.0 (its own;
# the rest are its KubernetesPodOperator's, listed in test_pod_operator.PROVIDER_KEYWORDS).
CNCF_JOB_KEYWORDS = """
job_template_file full_job_spec backoff_limit completion_mode completions manual_selector parallelism
selector suspend ttl_seconds_after_finished wait_until_job_complete job_poll_interval deferrable
on_kill_propagation_policy discover_pods_retry_number unwrap_single
""".split()
# airflow-kubernetes-job-operator 2.0.14: KubernetesJobOperator.__init__ (task_id aside) ...
KJO_JOB_KEYWORDS = """
command arguments image name_prefix name_postfix random_name_postfix_length namespace envs body
body_filepath image_pull_policy image_pull_secrets delete_policy in_cluster config_file get_logs
cluster_context startup_timeout_seconds validate_body_on_init enable_jinja jinja_job_args
on_kube_api_event parse_xcom_event labels mount_files_from_secret
""".split()
# ... and KubernetesLegacyJobOperator.__init__.
KJO_LEGACY_KEYWORDS = """
namespace image name random_name_suffix cmds arguments ports volume_mounts volumes env_vars env_from
secrets in_cluster cluster_context labels reattach_on_restart startup_timeout_seconds get_logs
image_pull_policy annotations container_resources affinity config_file node_selector image_pull_secrets
service_account_name is_delete_operator_pod hostnetwork tolerations security_context
container_security_context dnspolicy schedulername full_pod_spec init_containers log_events_on_failure
do_xcom_push pod_template_file priority_class_name pod_runtime_info_envs termination_grace_period
configmaps body body_filepath delete_policy validate_body_on_init enable_jinja jinja_job_args
on_kube_api_event parse_xcom_event
""".split()


POD_BUILDING = {f.name for f in dataclasses.fields(PodKeywords)}
# The provider's source (the unpacked 10.25 wheel), to check the lists above against.
CNCF_SOURCE = Path(os.environ.get("CNCF_PROVIDER_SOURCE", "/tmp/anchors/cncf"))


def provider_keywords(module: str, cls: str) -> list[str]:
    """Keyword-only parameters of ``cls.__init__`` in the provider's operators/``module``, read with ast."""
    path = CNCF_SOURCE / "airflow/providers/cncf/kubernetes/operators" / module
    tree = ast.parse(path.read_text())
    klass = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    init = next(n for n in klass.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    return [arg.arg for arg in init.args.kwonlyargs]


def test_recorded_lists_are_the_providers_job_operator_and_its_pod_operator() -> None:
    """The provider's KubernetesJobOperator passes **kwargs to its KubernetesPodOperator: a DAG may
    give it every keyword of both, which is what the lists hold."""
    if not CNCF_SOURCE.is_dir():
        pytest.skip(f"the provider's source is not at {CNCF_SOURCE} (set CNCF_PROVIDER_SOURCE)")
    assert sorted(provider_keywords("job.py", "KubernetesJobOperator")) == sorted(CNCF_JOB_KEYWORDS)
    assert sorted(provider_keywords("pod.py", "KubernetesPodOperator")) == sorted(PROVIDER_KEYWORDS)


def accepted(cls: type) -> set[str]:
    """Keyword-only parameters of ``cls`` and of our base classes it passes ``**kwargs`` to, plus the
    pod keywords KubernetesJobOperator takes out of ``**kwargs``."""
    found: set[str] = (
        set(jobkeywords.POD_ONLY_KEYWORDS | jobkeywords.pod_waiting_keywords())
        if cls is KubernetesJobOperator
        else set()
    )
    for klass in cls.__mro__:
        if klass.__module__.startswith("airflow_k8s_async") and "__init__" in vars(klass):
            params = inspect.signature(klass.__init__).parameters.values()  # type: ignore[misc]
            found |= {p.name for p in params if p.kind is p.KEYWORD_ONLY}
    return found


@pytest.mark.parametrize(
    ("cls", "anchor"),
    [
        # the provider's Job operator's own keywords and every one it inherits from its pod operator
        (KubernetesJobOperator, CNCF_JOB_KEYWORDS + PROVIDER_KEYWORDS),
        (KubernetesLegacyJobOperator, CNCF_JOB_KEYWORDS + PROVIDER_KEYWORDS),
        (KubernetesJobOperator, KJO_JOB_KEYWORDS),
        (KubernetesLegacyJobOperator, KJO_LEGACY_KEYWORDS),
    ],
    ids=["cncf->job", "cncf->legacy", "kjo->job", "kjo-legacy->legacy"],
)
def test_every_anchor_keyword_is_accepted(cls: type, anchor: list[str]) -> None:
    assert sorted(set(anchor) - accepted(cls)) == []


@pytest.mark.parametrize("cls", [KubernetesJobOperator, KubernetesLegacyJobOperator])
def test_job_spec_keywords_manual_selector_selector_suspend(cls: type) -> None:
    op = cls(
        task_id="sel",
        image="busybox:local",
        cmds=["true"],
        manual_selector=True,
        selector=k8s.V1LabelSelector(match_labels={"pick": "me"}),
        suspend=True,
        parallelism=1,
    )
    (built,) = op.build_resources()
    spec = built["spec"]
    assert spec["manualSelector"] is True and spec["suspend"] is True
    assert spec["selector"] == {"matchLabels": {"pick": "me"}}


JOB_TEMPLATE = """
apiVersion: batch/v1
kind: Job
metadata:
  name: from-template
  labels: {source: file}
spec:
  parallelism: 3
  backoffLimit: 4
  template:
    metadata:
      labels: {tpl: "yes"}
    spec:
      nodeSelector: {disk: ssd}
      containers:
        - name: base
          image: template:1
          env: [{name: FROM_FILE, value: "1"}]
"""


@pytest.mark.parametrize("cls", [KubernetesJobOperator, KubernetesLegacyJobOperator])
def test_job_template_file_and_full_job_spec_lie_under_the_keywords(cls: type, tmp_path: Any) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(JOB_TEMPLATE)
    full = k8s.V1Job(
        metadata=k8s.V1ObjectMeta(labels={"source": "full"}),
        spec=k8s.V1JobSpec(
            completions=3,
            template=k8s.V1PodTemplateSpec(spec=k8s.V1PodSpec(containers=[], service_account_name="runner")),
        ),
    )
    op = cls(
        task_id="tpl",
        job_template_file=str(path),
        full_job_spec=full,
        image="busybox:local",
        cmds=["sh", "-c"],
        env_vars={"KW": "2"},
        backoff_limit=1,
    )
    (built,) = op.build_resources()
    assert built["kind"] == "Job" and built["metadata"]["name"].startswith("from-template-")
    assert built["metadata"]["labels"]["source"] == "full"  # full_job_spec over the file
    spec = built["spec"]
    # the file's parallelism and the full spec's completions stay; the keyword's backoffLimit wins
    assert (spec["parallelism"], spec["completions"], spec["backoffLimit"]) == (3, 3, 1)
    pod = spec["template"]["spec"]
    assert pod["nodeSelector"] == {"disk": "ssd"} and pod["serviceAccountName"] == "runner"
    assert spec["template"]["metadata"]["labels"]["tpl"] == "yes"
    (container,) = pod["containers"]
    assert container["image"] == "busybox:local" and container["command"] == ["sh", "-c"]
    assert {"name": "FROM_FILE", "value": "1"} in container["env"] and {
        "name": "KW",
        "value": "2",
    } in container["env"]


def test_a_job_template_that_is_not_a_job_is_refused(tmp_path: Any) -> None:
    path = tmp_path / "pod.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n")
    op = KubernetesLegacyJobOperator(task_id="t", image="x:1", job_template_file=str(path))
    with pytest.raises(ConfigurationError, match="job_template_file holds a Pod, not a Job"):
        op.build_resources()
    missing = KubernetesJobOperator(task_id="t", image="x:1", job_template_file=str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigurationError, match=r"job_template_file .* not found"):
        missing.build_resources()
    with pytest.raises(ConfigurationError, match="with a body, put them in the body"):
        KubernetesJobOperator(task_id="t", body=BODY, job_template_file=str(path)).build_resources()


def test_job_options_defaults_and_checks() -> None:
    op = KubernetesLegacyJobOperator(task_id="t", image="x:1")
    assert (op.wait_until_job_complete, op.on_kill_propagation_policy) == (True, "Foreground")
    with pytest.raises(ConfigurationError, match="on_kill_propagation_policy='Sideways'"):
        KubernetesJobOperator(task_id="t", image="x:1", on_kill_propagation_policy="Sideways")
    with pytest.raises(ConfigurationError, match="::kube_api:xcom"):
        KubernetesJobOperator(task_id="t", image="x:1", cmds=["true"], do_xcom_push=True)


def test_on_kill_propagation_policy_reaches_the_trigger_and_survives_serialization() -> None:
    trigger = KubernetesJobTrigger(
        job_name="j", job_namespace="ns", job_uid="u", on_kill_propagation_policy="Orphan"
    )
    classpath, kwargs = trigger.serialize()
    assert kwargs["on_kill_propagation_policy"] == "Orphan"
    again = KubernetesJobTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    with pytest.raises(ValueError, match="on_kill_propagation_policy"):
        KubernetesJobTrigger(job_name="j", job_namespace="ns", on_kill_propagation_policy="Later")
    op = KubernetesLegacyJobOperator(
        task_id="t", image="x:1", on_kill_propagation_policy="Background", kubernetes_conn_id=None
    )
    assert job_trigger_kwargs(op)[1]["on_kill_propagation_policy"] == "Background"


def test_a_suspended_job_has_no_startup_deadline_until_resumed() -> None:
    trigger = KubernetesJobTrigger(job_name="j", job_namespace="ns", startup_timeout=60)
    created = {"creationTimestamp": "2024-01-01T00:00:00Z"}
    trigger._job = {"metadata": created, "spec": {"suspend": True}}
    assert trigger._startup_deadline() is None
    trigger._job = {
        "metadata": created,
        "spec": {"suspend": False},
        "status": {"startTime": "2024-01-01T01:00:00Z"},
    }
    utc = datetime.timezone.utc
    assert trigger._startup_deadline() == datetime.datetime(2024, 1, 1, 1, 1, tzinfo=utc).timestamp()
    trigger._job = {"metadata": created, "spec": {}, "status": {"startTime": "2024-01-01T01:00:00Z"}}
    assert trigger._startup_deadline() == datetime.datetime(2024, 1, 1, 0, 1, tzinfo=utc).timestamp()


@pytest.mark.parametrize(
    ("kwargs", "policy"),
    [
        ({"is_delete_operator_pod": False}, "Never"),
        ({"is_delete_operator_pod": False, "delete_policy": "Always"}, "Never"),  # as the job-operator
        ({"is_delete_operator_pod": True, "delete_policy": "Always"}, "Always"),
        ({"is_delete_operator_pod": True}, "IfSucceeded"),
    ],
)
def test_is_delete_operator_pod_false_keeps_the_job(kwargs: dict[str, Any], policy: str) -> None:
    op = KubernetesLegacyJobOperator(task_id="t", image="x:1", **kwargs)
    assert op.delete_policy == policy


def test_legacy_body_job_is_the_template_and_other_resources_come_along() -> None:
    op = KubernetesLegacyJobOperator(
        task_id="legacy",
        body=BODY,
        image="busybox:local",
        cmds=["sh", "-c"],
        arguments=["echo hi"],
        validate_body_on_init=True,
        random_name_suffix=False,
        name="lj",
    )
    job_, config_map = op.build_resources()
    assert job_["metadata"]["name"] == "lj"
    assert job_["metadata"]["finalizers"] == ["foregroundDeletion"]  # the job-operator's Job defaults
    assert config_map["kind"] == "ConfigMap" and config_map["metadata"]["name"].startswith("lj-settings-")
    containers = {c["name"]: c for c in job_["spec"]["template"]["spec"]["containers"]}
    assert containers["base"]["args"] == ["echo hi"] and containers["base"]["image"] == "busybox:local"
    env = {e["name"]: e.get("value") for e in containers["base"].get("env", [])}
    assert env["KUBERNETES_JOB_OPERATOR_RESOURCES"] == f"lj {config_map['metadata']['name']}"


def test_legacy_body_pod_is_the_pod_template_and_bodies_render_with_jinja(tmp_path: Any) -> None:
    path = tmp_path / "pod.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {day: '{{ job.day }}'}}\n"
        "spec:\n  containers: [{name: base, image: x:1, workingDir: /w}]\n"
    )
    op = KubernetesLegacyJobOperator(
        task_id="t", body_filepath=str(path), jinja_job_args={"day": "monday"}, image="busybox:local"
    )
    ti = RecordingTaskInstance()
    ti.dag_id, ti.task_id, ti.try_number, ti.map_index = "d", "t", 1, -1  # type: ignore[attr-defined]
    (built,) = op.build_resources({"ti": ti, "run_id": "r"})  # type: ignore[typeddict-item]
    assert built["kind"] == "Job"
    assert built["spec"]["template"]["metadata"]["labels"]["day"] == "monday"
    (container,) = built["spec"]["template"]["spec"]["containers"]
    assert container["workingDir"] == "/w" and container["image"] == "busybox:local"
    with pytest.raises(ConfigurationError, match="first resource is a ConfigMap"):
        KubernetesLegacyJobOperator(task_id="t", image="x:1", body=BODY.split("---")[1]).build_resources()


def test_the_events_job_is_its_metadata_and_status_never_its_spec() -> None:
    trigger = KubernetesJobTrigger(job_name="j", job_namespace="ns")
    trigger._job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j", "managedFields": [{"manager": "x"}]},
        "spec": {"template": {"spec": {"containers": [{"env": [{"name": "TOKEN", "value": "s3cret"}]}]}}},
        "status": {"succeeded": 1},
    }
    event = trigger._event("success")
    assert event["job"] == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "status": {"succeeded": 1},
    }
    assert "s3cret" not in repr(event)  # trigger events are written to the task log


# -- the pod operator's waiting and finishing keywords on a Job ------------------------------------

# A value for each keyword the provider's Job operator inherits from its pod operator about waiting
# and finishing (neither shaping the pod nor ours already), as a provider DAG could give it.
WAITING_SAMPLES: dict[str, Any] = {
    "container_logs": ["sidecar"],
    "init_container_logs": True,
    "container_name_log_prefix_enabled": False,
    "log_events_on_failure": True,
    "on_finish_action": "keep_pod",
    "is_delete_operator_pod": True,
    "on_kill_action": "keep_pod",
    "reattach_on_restart": False,
    "skip_on_exit_code": [3],
    "schedule_timeout_seconds": 30,
    "poll_interval": 1,
    "startup_check_interval_seconds": 2,
    "base_container_status_polling_interval": 0.5,
    "logging_interval": 10,
    "durable": True,
    "log_events_on_startup": False,
    "log_pod_spec_on_failure": False,
    "callbacks": [],
    "progress_callback": print,
    "trigger_kwargs": {"x": 1},
    "log_formatter": str,
}


def test_every_provider_keyword_is_taken_by_the_job_operator() -> None:
    """Fails when a keyword of the provider's Job operator (inherited ones included) is refused."""
    own = set(inspect.signature(KubernetesJobOperator.__init__).parameters)
    waiting = set(CNCF_JOB_KEYWORDS + PROVIDER_KEYWORDS) - own - POD_BUILDING
    assert waiting == set(WAITING_SAMPLES) == set(jobkeywords.pod_waiting_keywords())
    for cls in (KubernetesJobOperator, KubernetesLegacyJobOperator):
        op = cls(task_id="all", image="busybox:local", cmds=["true"], **WAITING_SAMPLES)
        assert op.build_resources()[0]["kind"] == "Job"
    with pytest.raises(TypeError, match="Invalid arguments"):
        KubernetesJobOperator(task_id="t", image="x:1", not_a_keyword=1)


@pytest.mark.parametrize("cls", [KubernetesJobOperator, KubernetesLegacyJobOperator])
@pytest.mark.parametrize(
    ("kwargs", "policy", "on_kill_deletes"),
    [
        ({}, "IfSucceeded", True),
        ({"on_finish_action": "delete_pod"}, "Always", True),
        ({"on_finish_action": "delete_succeeded_pod"}, "IfSucceeded", True),
        # the provider keeps the pods at the end, and deletes the Job on a kill all the same
        ({"on_finish_action": "keep_pod"}, "Never", True),
        ({"on_finish_action": "delete_active_pod"}, "Never", True),
        ({"on_finish_action": "keep_pod", "delete_policy": "IfFailed"}, "IfFailed", True),
        ({"is_delete_operator_pod": False, "on_finish_action": "delete_pod"}, "Never", False),
        ({"is_delete_operator_pod": True, "on_finish_action": "keep_pod"}, "Never", True),
        ({"delete_policy": "Never"}, "Never", False),
    ],
)
def test_on_finish_action_and_is_delete_operator_pod_set_the_delete_policy(
    cls: type, kwargs: dict[str, Any], policy: str, on_kill_deletes: bool
) -> None:
    op = cls(task_id="t", image="x:1", cmds=["true"], kubernetes_conn_id=None, **kwargs)
    assert (op.delete_policy, op.delete_on_kill) == (policy, on_kill_deletes)
    assert job_trigger_kwargs(op)[1]["delete_on_kill"] is on_kill_deletes


@pytest.mark.parametrize("cls", [KubernetesJobOperator, KubernetesLegacyJobOperator])
def test_unknown_on_finish_action_is_refused_at_parse_time(cls: type) -> None:
    with pytest.raises(ConfigurationError, match="on_finish_action='delete_later'"):
        cls(task_id="t", image="x:1", on_finish_action="delete_later")


@pytest.mark.parametrize("cls", [KubernetesJobOperator, KubernetesLegacyJobOperator])
def test_log_keywords_and_base_container_reach_the_job_trigger(cls: type) -> None:
    op = cls(
        task_id="t",
        image="x:1",
        cmds=["true"],
        kubernetes_conn_id=None,
        base_container_name="work",
        container_logs=("work", "sidecar"),
        init_container_logs="setup",
        log_events_on_failure=True,
        get_logs=True,
        startup_timeout_seconds=33,
    )
    (job,) = op.build_resources()
    assert [c["name"] for c in job["spec"]["template"]["spec"]["containers"]] == ["work"]
    classpath, kwargs = job_trigger_kwargs(op)
    assert {k: kwargs[k] for k in ("base_container_name", "container_logs", "init_container_logs")} == {
        "base_container_name": "work",
        "container_logs": ["work", "sidecar"],
        "init_container_logs": "setup",
    }
    assert kwargs["log_events_on_failure"] is True and kwargs["startup_timeout"] == 33
    assert KubernetesJobTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_keywords_with_no_meaning_for_a_job_are_logged_once_at_debug() -> None:
    before = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as logs:
            KubernetesJobOperator(
                task_id="t", image="x:1", poll_interval=1, skip_on_exit_code=3, container_logs=True
            )
    finally:
        structlog.configure(wrapper_class=before)
    notes = [entry for entry in logs if "no effect on a Job" in str(entry)]
    assert len(notes) == 1 and notes[0]["log_level"] == "debug", logs
    assert "['poll_interval', 'skip_on_exit_code']" in str(notes[0])  # container_logs has a meaning


def test_do_xcom_push_is_refused_naming_the_kube_api_lines() -> None:
    for cls in (KubernetesJobOperator, KubernetesLegacyJobOperator):
        with pytest.raises(ConfigurationError, match=r"not supported for Jobs.*::kube_api:xcom="):
            cls(task_id="t", image="x:1", do_xcom_push=True)


def job_pod(name: str, *, exit_codes: dict[str, int], init: bool = False) -> dict[str, Any]:
    statuses = [
        {"name": c, "state": {"terminated": {"exitCode": code, "reason": "Error" if code else "Completed"}}}
        for c, code in exit_codes.items()
    ]
    spec: dict[str, Any] = {"containers": [{"name": c} for c in exit_codes]}
    if init:
        spec["initContainers"] = [{"name": "setup"}]
    return {
        "metadata": {"name": name, "uid": f"uid-{name}"},
        "spec": spec,
        "status": {
            "phase": "Failed" if any(exit_codes.values()) else "Succeeded",
            "startTime": "2024-01-01T00:00:00Z",
            "containerStatuses": statuses,
        },
    }


def test_job_trigger_streams_the_chosen_containers_and_reports_the_base_containers_exit_code() -> None:
    pod = job_pod("j-1", exit_codes={"work": 3, "sidecar": 0}, init=True)
    choose = {"container_logs": True, "init_container_logs": None, "main": "work"}
    assert wanted_containers(pod, **choose) == ["work"]
    assert wanted_containers(pod, **{**choose, "container_logs": "sidecar"}) == ["sidecar"]
    assert wanted_containers(pod, **{**choose, "container_logs": ["sidecar", "missing", "work"]}) == [
        "sidecar",
        "work",
    ]
    assert wanted_containers(pod, **{**choose, "init_container_logs": True}) == ["setup", "work"]
    assert wanted_containers(pod, **{**choose, "container_logs": False}) == []

    trigger = KubernetesJobTrigger(job_name="j", job_namespace="ns", base_container_name="work")
    trigger._pods = {"j-1": pod}
    assert (trigger._tag("j-1", "work"), trigger._tag("j-1", "sidecar")) == ("j-1", "j-1/sidecar")
    state = job_state(
        {
            "status": {
                "failed": 1,
                "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
            }
        }
    )
    event = trigger._finish(state)
    assert (event["exit_code"], event["container"], event["pod"]) == (3, "work", "j-1")
    other = KubernetesJobTrigger(job_name="j", job_namespace="ns", base_container_name="sidecar")
    other._pods = {"j-1": job_pod("j-1", exit_codes={"work": 3, "sidecar": 4})}
    assert other._finish(state)["exit_code"] == 4
