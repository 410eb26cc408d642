"""KubernetesPodOperator without a cluster: keyword compatibility, building, validation, templating."""

from __future__ import annotations

import datetime
import inspect
import json

import pytest
import yaml
from kubernetes.client import models as k8s

from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.operators.pod import KubernetesPodOperator
from airflow_k8s_async.triggers.pod import KubernetesPodTrigger

# KubernetesPodOperator.__init__ keywords of apache-airflow-providers-cncf-kubernetes 10.25.0.
PROVIDER_KEYWORDS = """
kubernetes_conn_id namespace image name random_name_suffix cmds arguments ports volume_mounts volumes
env_vars env_from secrets in_cluster cluster_context labels reattach_on_restart durable
startup_timeout_seconds startup_check_interval_seconds schedule_timeout_seconds get_logs
base_container_name base_container_status_polling_interval init_container_logs container_logs
image_pull_policy annotations container_resources affinity config_file runtime_class_name node_selector
image_pull_secrets service_account_name automount_service_account_token hostnetwork host_aliases
tolerations security_context container_security_context xcom_sidecar_container_security_context
dnspolicy dns_config hostname subdomain schedulername full_pod_spec init_containers
log_events_on_failure log_events_on_startup do_xcom_push pod_template_file pod_template_dict
priority_class_name pod_runtime_info_envs termination_grace_period configmaps skip_on_exit_code
deferrable poll_interval log_pod_spec_on_failure on_finish_action on_kill_action is_delete_operator_pod
termination_message_policy active_deadline_seconds callbacks progress_callback logging_interval
trigger_kwargs container_name_log_prefix_enabled log_formatter
""".split()


def test_every_provider_keyword_is_accepted_by_name() -> None:
    ours = inspect.signature(KubernetesPodOperator.__init__).parameters
    missing = [name for name in PROVIDER_KEYWORDS if name not in ours]
    assert missing == []
    assert all(ours[name].kind is inspect.Parameter.KEYWORD_ONLY for name in PROVIDER_KEYWORDS)


def test_deferrable_by_default_and_builds_a_valid_pod() -> None:
    op = KubernetesPodOperator(
        task_id="hello",
        image="busybox:local",
        cmds=["sh", "-c"],
        arguments=["echo hi"],
        env_vars={"A": "1"},
        labels={"team": "data"},
        do_xcom_push=True,
        xcom_sidecar_image="busybox:local",
        random_name_suffix=False,
        namespace="work",
    )
    assert op.deferrable is True
    pod = op.build_pod_request_obj()
    assert pod["metadata"]["name"] == "hello" and pod["metadata"]["namespace"] == "work"
    assert pod["metadata"]["labels"]["team"] == "data"
    assert pod["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "airflow-k8s-async"
    base, sidecar = pod["spec"]["containers"]
    assert base["name"] == "base" and base["command"] == ["sh", "-c"] and base["args"] == ["echo hi"]
    assert base["env"] == [{"name": "A", "value": "1"}]
    assert sidecar["name"] == "airflow-xcom-sidecar" and sidecar["image"] == "busybox:local"
    assert pod["spec"]["restartPolicy"] == "Never"


def test_model_objects_become_dicts_that_jinja_can_render() -> None:
    op = KubernetesPodOperator(
        task_id="t",
        image="busybox:local",
        env_vars=[k8s.V1EnvVar(name="DAY", value="{{ ds }}")],
        volumes=[k8s.V1Volume(name="v", empty_dir=k8s.V1EmptyDirVolumeSource())],
        volume_mounts=[k8s.V1VolumeMount(name="v", mount_path="/data")],
    )
    assert op.env_vars == [{"name": "DAY", "value": "{{ ds }}"}]
    op.render_template_fields({"ds": "2026-11-21"})
    assert op.env_vars == [{"name": "DAY", "value": "2026-11-21"}]
    pod = op.build_pod_request_obj()
    assert pod["spec"]["volumes"] == [{"name": "v", "emptyDir": {}}]
    assert pod["spec"]["containers"][0]["volumeMounts"] == [{"name": "v", "mountPath": "/data"}]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"image": "busybox:local", "name": "Bad_Name!", "random_name_suffix": False}, "name"),
        ({"image": None}, "image"),
        ({"image": "busybox:local", "container_resources": {"limits": {"memory": "2 GB"}}}, "2 GB"),
        ({"image": "busybox:local", "volume_mounts": [{"name": "nope", "mountPath": "/x"}]}, "nope"),
    ],
)
def test_bad_input_fails_before_the_cluster(kwargs: dict[str, object], error: str) -> None:
    op = KubernetesPodOperator(task_id="t", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=error):
        op.build_pod_request_obj()


def test_unknown_actions_are_refused_at_parse_time() -> None:
    with pytest.raises(ConfigurationError, match="on_finish_action"):
        KubernetesPodOperator(task_id="t", image="x:1", on_finish_action="delete")
    with pytest.raises(ConfigurationError, match="on_kill_action"):
        KubernetesPodOperator(task_id="t", image="x:1", on_kill_action="nuke")


@pytest.mark.parametrize(
    ("action", "event", "deleted"),
    [
        ("delete_pod", {"status": "failed", "phase": "Failed"}, True),
        ("delete_succeeded_pod", {"status": "success", "phase": "Succeeded"}, True),
        ("delete_succeeded_pod", {"status": "failed", "phase": "Failed"}, False),
        ("delete_active_pod", {"status": "failed", "phase": "Pending"}, True),  # e.g. ErrImageNeverPull
        ("delete_active_pod", {"status": "failed", "phase": "Failed"}, False),
        ("delete_active_pod", {"status": "success", "phase": "Succeeded"}, False),
        ("keep_pod", {"status": "timeout", "phase": "Running"}, False),
        ("delete_succeeded_pod", {"status": "timeout", "phase": "Running"}, True),
    ],
)
def test_on_finish_action_decides_by_outcome_and_phase(
    action: str, event: dict[str, str], deleted: bool
) -> None:
    op = KubernetesPodOperator(task_id="t", image="x:1", on_finish_action=action)
    assert op.deletes_at_finish(event) is deleted


def test_deprecated_is_delete_operator_pod_maps_to_on_finish_action() -> None:
    op = KubernetesPodOperator(task_id="t", image="x:1", is_delete_operator_pod=False)
    assert op.on_finish_action == "keep_pod"


def test_dry_run_prints_the_pod(capsys: pytest.CaptureFixture[str]) -> None:
    KubernetesPodOperator(task_id="dry", image="busybox:local", random_name_suffix=False).dry_run()
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["metadata"]["name"] == "dry"
    assert printed["spec"]["containers"][0]["image"] == "busybox:local"


def test_trigger_kwargs_hold_no_credentials() -> None:
    trigger = KubernetesPodTrigger(
        pod_name="p",
        pod_namespace="ns",
        kubernetes_conn_id="my_k8s",
        deadline=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc).timestamp(),
    )
    _, kwargs = trigger.serialize()
    text = repr(kwargs).lower()
    assert "token" not in text and "kube_config" not in text and "certificate" not in text
    assert kwargs["kubernetes_conn_id"] == "my_k8s"


def test_the_connections_sidecar_extras_shape_the_sidecar_and_the_keywords_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Air-gapped installs set the sidecar's image in the connection (the provider's extras): a DAG
    moved here with only its imports changed must get that image, not the default one."""
    extra = {
        "xcom_sidecar_container_image": "mirror.example.com/alpine:3",
        "xcom_sidecar_container_resources": json.dumps({"requests": {"cpu": "5m"}}),
        "xcom_sidecar_container_security_context": json.dumps({"runAsUser": 1000}),
    }
    conn = json.dumps({"conn_type": "kubernetes", "extra": extra})
    monkeypatch.setenv("AIRFLOW_CONN_MIRRORED", conn)

    def sidecar(**keywords: object) -> dict[str, object]:
        op = KubernetesPodOperator(
            task_id="t", kubernetes_conn_id="mirrored", image="busybox", do_xcom_push=True, **keywords
        )
        containers = op.build_pod_request_obj(target=op._target())["spec"]["containers"]
        return dict(containers[1])

    from_connection = sidecar()
    assert from_connection["image"] == "mirror.example.com/alpine:3"
    assert from_connection["resources"] == {"requests": {"cpu": "5m"}}
    assert from_connection["securityContext"] == {"runAsUser": 1000}
    own = sidecar(xcom_sidecar_image="own:1", xcom_sidecar_container_security_context={"runAsUser": 7})
    assert own["image"] == "own:1" and own["securityContext"] == {"runAsUser": 7}
    assert own["resources"] == {"requests": {"cpu": "5m"}}
