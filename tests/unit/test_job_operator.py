"""KubernetesJobOperator / KubernetesLegacyJobOperator without a cluster."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.operators.job import KubeApiEvent, KubernetesJobOperator, KubernetesLegacyJobOperator

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
