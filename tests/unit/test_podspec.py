"""KubernetesPodOperator keywords -> Pod body; validation; quantities; label values; model -> JSON.

Expected bodies are written out in full: they are what the cncf provider's ``build_pod_request_obj``
sends for the same arguments (checked against provider 10.25 with a differential script), apart
from the differences listed in ``_kube/podspec.py`` and ``_kube/podmerge.py``.
"""

from __future__ import annotations

import copy
import datetime
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import models as k8s
from kubernetes_asyncio.client import models as k8s_async

from airflow_k8s_async._kube.k8s_objects import secret_volume_name
from airflow_k8s_async._kube.podspec import (
    XCOM_SIDECAR_IMAGE,
    PodKeywords,
    Secret,
    add_unique_suffix,
    build_pod,
    parse_quantity,
    sanitize_label_value,
    to_api_dict,
    validate_pod,
)
from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.secret import Secret as PublicSecret

XCOM_COMMAND = ["sh", "-c", 'trap "exit 0" INT; while true; do sleep 1; done;']


def build(**keywords: Any) -> dict[str, Any]:
    """A pod from keywords only, without the random suffix so the name is exact."""
    keywords.setdefault("random_name_suffix", False)
    return build_pod(keywords=PodKeywords(**keywords), namespace="default", task_id="my_task")


def base_container(pod: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = pod["spec"]["containers"][0]
    return container


# --- keywords only -------------------------------------------------------------------------------------


def test_minimal_keywords() -> None:
    assert build(image="busybox") == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "my-task", "namespace": "default"},
        "spec": {
            "containers": [{"name": "base", "image": "busybox", "terminationMessagePolicy": "File"}],
            "restartPolicy": "Never",
        },
    }


def test_every_keyword_lands_where_the_provider_puts_it() -> None:
    pod = build(
        image="python:3.12",
        name="My_Job.v2",
        namespace="team-a",
        cmds=["python", "-c"],
        arguments=["print(1)"],
        ports=[k8s.V1ContainerPort(container_port=8080, name="http")],
        volumes=[
            k8s.V1Volume(
                name="data", persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name="pvc")
            )
        ],
        volume_mounts=[k8s.V1VolumeMount(name="data", mount_path="/data", read_only=True)],
        env_vars=[k8s.V1EnvVar(name="A", value="1"), {"name": "B", "value": "2"}],
        pod_runtime_info_envs=[
            k8s.V1EnvVar(
                name="POD_IP",
                value_from=k8s.V1EnvVarSource(field_ref=k8s.V1ObjectFieldSelector(field_path="status.podIP")),
            )
        ],
        env_from=[k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name="creds"))],
        configmaps=["settings"],
        labels={"team": "a", "empty": None},
        annotations={"note": "x"},
        image_pull_policy="IfNotPresent",
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "250m", "memory": "64Mi"}, limits={"memory": "128Mi"}
        ),
        affinity={
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}
        },
        runtime_class_name="gvisor",
        node_selector={"disk": "ssd"},
        image_pull_secrets=[k8s.V1LocalObjectReference(name="regcred"), "other"],
        service_account_name="runner",
        automount_service_account_token=False,
        hostnetwork=True,
        host_aliases=[k8s.V1HostAlias(ip="10.0.0.1", hostnames=["db"])],
        tolerations=[k8s.V1Toleration(key="gpu", operator="Exists", effect="NoSchedule")],
        security_context=k8s.V1PodSecurityContext(run_as_user=1000, fs_group=2000),
        container_security_context={"allowPrivilegeEscalation": False},
        dnspolicy="ClusterFirstWithHostNet",
        dns_config=k8s.V1PodDNSConfig(nameservers=["1.1.1.1"]),
        hostname="worker",
        subdomain="jobs",
        schedulername="custom",
        init_containers=[k8s.V1Container(name="setup", image="busybox", command=["true"])],
        priority_class_name="high",
        termination_grace_period=10,
        termination_message_policy="FallbackToLogsOnError",
        active_deadline_seconds=600,
    )
    assert pod == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "my-job-v2",
            "namespace": "team-a",
            "labels": {"team": "a", "empty": ""},
            "annotations": {"note": "x"},
        },
        "spec": {
            "runtimeClassName": "gvisor",
            "nodeSelector": {"disk": "ssd"},
            "affinity": {
                "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}
            },
            "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "initContainers": [{"name": "setup", "image": "busybox", "command": ["true"]}],
            "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["db"]}],
            "containers": [
                {
                    "name": "base",
                    "image": "python:3.12",
                    "command": ["python", "-c"],
                    "args": ["print(1)"],
                    "ports": [{"containerPort": 8080, "name": "http"}],
                    "imagePullPolicy": "IfNotPresent",
                    "resources": {
                        "limits": {"memory": "128Mi"},
                        "requests": {"cpu": "250m", "memory": "64Mi"},
                    },
                    "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}],
                    "env": [
                        {"name": "A", "value": "1"},
                        {"name": "B", "value": "2"},
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    ],
                    "envFrom": [{"secretRef": {"name": "creds"}}, {"configMapRef": {"name": "settings"}}],
                    "securityContext": {"allowPrivilegeEscalation": False},
                    "terminationMessagePolicy": "FallbackToLogsOnError",
                }
            ],
            "imagePullSecrets": [{"name": "regcred"}, {"name": "other"}],
            "serviceAccountName": "runner",
            "automountServiceAccountToken": False,
            "hostNetwork": True,
            "hostname": "worker",
            "subdomain": "jobs",
            "securityContext": {"runAsUser": 1000, "fsGroup": 2000},
            "dnsPolicy": "ClusterFirstWithHostNet",
            "dnsConfig": {"nameservers": ["1.1.1.1"]},
            "schedulerName": "custom",
            "restartPolicy": "Never",
            "priorityClassName": "high",
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "pvc"}}],
            "activeDeadlineSeconds": 600,
            "terminationGracePeriodSeconds": 10,
        },
    }
    validate_pod(pod)


def test_env_vars_as_a_dict() -> None:
    pod = build(image="busybox", env_vars={"A": "1", "N": 3, "UNSET": None})
    assert base_container(pod)["env"] == [
        {"name": "A", "value": "1"},
        {"name": "N", "value": "3"},
        {"name": "UNSET"},
    ]


def test_env_vars_as_models_from_either_client() -> None:
    pod = build(
        image="busybox",
        env_vars=[
            k8s.V1EnvVar(name="A", value="1"),
            k8s_async.V1EnvVar(
                name="S",
                value_from=k8s_async.V1EnvVarSource(
                    secret_key_ref=k8s_async.V1SecretKeySelector(name="db", key="pw")
                ),
            ),
        ],
    )
    assert base_container(pod)["env"] == [
        {"name": "A", "value": "1"},
        {"name": "S", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
    ]


def test_configmaps_extend_env_from_and_a_single_name_is_one_configmap() -> None:
    assert base_container(build(image="busybox", configmaps=["a", "b"]))["envFrom"] == [
        {"configMapRef": {"name": "a"}},
        {"configMapRef": {"name": "b"}},
    ]
    assert base_container(build(image="busybox", configmaps="solo"))["envFrom"] == [
        {"configMapRef": {"name": "solo"}}
    ]


def test_image_pull_secrets_from_a_comma_separated_string() -> None:
    pod = build(image="busybox", image_pull_secrets="first, second,,third")
    assert pod["spec"]["imagePullSecrets"] == [{"name": "first"}, {"name": "second"}, {"name": "third"}]


def test_falsy_keywords_are_left_out() -> None:
    pod = build(image="busybox", cmds=[], arguments=[], labels={}, node_selector={}, security_context={})
    assert pod["spec"] == {
        "containers": [{"name": "base", "image": "busybox", "terminationMessagePolicy": "File"}],
        "restartPolicy": "Never",
    }


@pytest.mark.parametrize(
    ("keywords", "words"),
    [
        ({"cmds": "echo hi"}, "cmds must be a list of strings"),
        ({"arguments": "x"}, "arguments must be a list of strings"),
        ({"env_vars": "A=1"}, "env_vars must be a list"),
        ({"volumes": {"name": "v"}}, "volumes must be a list"),
        ({"tolerations": [object()]}, "tolerations[0]: cannot turn a object into Kubernetes API JSON"),
        ({"name": "bad name!"}, "name 'bad name!' is invalid"),
        ({"name": "x" * 221}, "at most 220"),
    ],
)
def test_bad_keywords_are_configuration_errors(keywords: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build(image="busybox", **keywords)
    assert words in str(caught.value)


def test_base_container_name_none_means_base() -> None:
    assert base_container(build(image="busybox", base_container_name=None))["name"] == "base"
    assert base_container(build(image="busybox", base_container_name="main"))["name"] == "main"


# --- names, namespace, ownership labels ---------------------------------------------------------------

SUFFIXED = re.compile(r"^(?P<stem>.*)-[a-z0-9]{8}$")


def test_random_suffix_shape() -> None:
    names = {
        build_pod(keywords=PodKeywords(image="i", name="job"), namespace="n")["metadata"]["name"]
        for _ in range(20)
    }
    assert len(names) == 20
    for name in names:
        match = SUFFIXED.match(name)
        assert match and match["stem"] == "job"


def test_random_suffix_keeps_the_name_within_63_chars_and_dns_safe() -> None:
    def name_for(name: str) -> str:
        built: str = build_pod(keywords=PodKeywords(image="i", name=name), namespace="n")["metadata"]["name"]
        return built

    assert re.fullmatch(r"a{54}-[a-z0-9]{8}", name_for("a" * 100))
    # the name keyword turns "." into "-"; the cut (54 chars) then ends on "-", which is stripped
    assert re.fullmatch(r"a{53}-[a-z0-9]{8}", name_for("a" * 53 + "." + "b" * 100))
    assert re.fullmatch(r"x{53}-[a-z0-9]{8}", add_unique_suffix("x" * 53 + "-.y"))
    assert re.fullmatch(r"short-[a-z0-9]{8}", add_unique_suffix("short"))


def test_name_keyword_is_lowercased_and_cleaned_as_the_provider_does() -> None:
    assert build(image="i", name="ETL_Load.daily")["metadata"]["name"] == "etl-load-daily"


def test_name_from_the_task_id_when_none_is_given() -> None:
    assert build(image="i")["metadata"]["name"] == "my-task"
    pod = build_pod(keywords=PodKeywords(image="i"), namespace="n", task_id="Load_Table.Daily")
    match = SUFFIXED.match(pod["metadata"]["name"])
    assert match and match["stem"] == "load-table-daily"


def test_no_name_anywhere_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="pass name="):
        build_pod(keywords=PodKeywords(image="i"), namespace="n")


def test_namespace_precedence_keyword_then_template_then_fallback() -> None:
    template = {"metadata": {"namespace": "from-template"}, "spec": {"containers": [{"name": "base"}]}}
    assert build(image="i", pod_template_dict=template, namespace="kw")["metadata"]["namespace"] == "kw"
    assert build(image="i", pod_template_dict=template)["metadata"]["namespace"] == "from-template"
    assert build(image="i")["metadata"]["namespace"] == "default"


def test_ownership_labels_and_annotations_always_win_and_are_label_safe() -> None:
    pod = build_pod(
        keywords=PodKeywords(
            image="i", name="p", random_name_suffix=False, labels={"dag_id": "mine", "k": "v"}
        ),
        namespace="n",
        labels={"dag_id": "etl", "run_id": "manual__2024-01-01T00:00:00+00:00"},
        annotations={"airflow-k8s-async/try": "1"},
    )
    assert pod["metadata"] == {
        "name": "p",
        "namespace": "n",
        "labels": {"dag_id": "etl", "k": "v", "run_id": "manual__2024-01-01T0000000000-701821d7a"},
        "annotations": {"airflow-k8s-async/try": "1"},
    }


# --- secrets --------------------------------------------------------------------------------------------


class ProviderLikeSecret:
    """The attributes of airflow.providers.cncf.kubernetes.secret.Secret, nothing else."""

    def __init__(
        self, deploy_type: str, deploy_target: str | None, secret: str, key: str | None = None
    ) -> None:
        self.deploy_type = deploy_type
        self.deploy_target = deploy_target
        self.secret = secret
        self.key = key
        self.items: list[Any] = []


def test_secrets_as_env_env_from_and_volume() -> None:
    volume = secret_volume_name(secret="tls", target="/etc/tls")
    pod = build(
        image="busybox",
        env_vars={"A": "1"},
        secrets=[
            Secret("env", "db_password", "db", "password"),
            Secret("env", None, "all-keys"),
            Secret("volume", "/etc/tls", "tls", items=[k8s.V1KeyToPath(key="tls.crt", path="cert.pem")]),
            ProviderLikeSecret("env", "TOKEN", "api", "token"),
        ],
    )
    assert base_container(pod) == {
        "name": "base",
        "image": "busybox",
        "env": [
            {"name": "A", "value": "1"},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
        ],
        "envFrom": [{"secretRef": {"name": "all-keys"}}],
        "volumeMounts": [{"mountPath": "/etc/tls", "name": volume, "readOnly": True}],
        "terminationMessagePolicy": "File",
    }
    assert pod["spec"]["volumes"] == [
        {"name": volume, "secret": {"secretName": "tls", "items": [{"key": "tls.crt", "path": "cert.pem"}]}}
    ]
    assert re.fullmatch(r"secretvol-[0-9a-f]{12}", volume)
    validate_pod(pod)


def test_secret_class_matches_the_provider_api() -> None:
    assert PublicSecret is Secret
    secret = Secret("env", "lower", "s", "k")
    assert (secret.deploy_type, secret.deploy_target, secret.secret, secret.key, secret.items) == (
        "env",
        "LOWER",
        "s",
        "k",
        [],
    )
    assert Secret("volume", "/p", "s").deploy_target == "/p"
    assert secret == Secret("env", "LOWER", "s", "k") and hash(secret) == hash(
        Secret("env", "LOWER", "s", "k")
    )
    assert repr(secret) == "Secret(env, LOWER, s, k)"
    with pytest.raises(ConfigurationError, match="'env' or 'volume'"):
        Secret("file", "/p", "s")
    with pytest.raises(ConfigurationError, match="needs deploy_target"):
        Secret("env", None, "s", "k")
    pod = {"spec": {"containers": [{"name": "c", "image": "i"}]}}
    assert secret.attach_to_pod(pod)["spec"]["containers"][0]["env"] == [
        {"name": "LOWER", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    ]
    assert pod == {"spec": {"containers": [{"name": "c", "image": "i"}]}}


def test_something_else_in_secrets_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="expected Secret objects"):
        build(image="busybox", secrets=["db"])


# --- templates and full_pod_spec ------------------------------------------------------------------------

TEMPLATE_YAML = """
apiVersion: v1
kind: Pod
metadata:
  name: from-template
  namespace: tmpl-ns
  labels: {team: data, tier: batch}
  annotations: {owner: alice}
  resourceVersion: "123"
  uid: 0f0f
spec:
  serviceAccountName: tmpl-sa
  securityContext: {runAsUser: 1000}
  hostNetwork: true
  nodeSelector: {pool: batch}
  containers:
    - name: log-shipper
      image: fluent-bit
    - name: base
      image: tmpl-image
      command: [tmpl-cmd]
      env: [{name: FROM_TEMPLATE, value: "1"}]
      volumeMounts: [{name: cache, mountPath: /cache}]
  initContainers:
    - name: fetch
      image: curl
      env: [{name: URL, value: a}]
  volumes:
    - name: cache
      emptyDir: {}
status:
  phase: Pending
"""


@pytest.fixture
def dag_folder(tmp_path: Path) -> Path:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "pod.yaml").write_text(TEMPLATE_YAML)
    return tmp_path


def test_template_file_with_keywords_on_top(dag_folder: Path) -> None:
    pod = build_pod(
        keywords=PodKeywords(
            pod_template_file="templates/pod.yaml",
            random_name_suffix=False,
            image="kw-image",
            arguments=["--run"],
            env_vars={"FROM_KEYWORD": "2"},
            labels={"tier": "keyword"},
            volumes=[{"name": "scratch", "emptyDir": {}}],
            volume_mounts=[{"name": "scratch", "mountPath": "/scratch"}],
            init_containers=[{"name": "fetch", "image": "wget"}, {"name": "second", "image": "busybox"}],
            service_account_name="kw-sa",
        ),
        namespace="fallback",
        template_base_dir=str(dag_folder),
    )
    assert pod == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "from-template",
            "namespace": "tmpl-ns",
            "labels": {"team": "data", "tier": "keyword"},
            "annotations": {"owner": "alice"},
        },
        "spec": {
            "serviceAccountName": "kw-sa",
            "securityContext": {"runAsUser": 1000},
            "hostNetwork": True,
            "nodeSelector": {"pool": "batch"},
            "restartPolicy": "Never",
            "containers": [
                {"name": "log-shipper", "image": "fluent-bit"},
                {
                    "name": "base",
                    "image": "kw-image",
                    "command": ["tmpl-cmd"],
                    "args": ["--run"],
                    "env": [{"name": "FROM_TEMPLATE", "value": "1"}, {"name": "FROM_KEYWORD", "value": "2"}],
                    "volumeMounts": [
                        {"name": "cache", "mountPath": "/cache"},
                        {"name": "scratch", "mountPath": "/scratch"},
                    ],
                    "terminationMessagePolicy": "File",
                },
            ],
            "initContainers": [
                {"name": "fetch", "image": "wget", "env": [{"name": "URL", "value": "a"}]},
                {"name": "second", "image": "busybox"},
            ],
            "volumes": [{"name": "cache", "emptyDir": {}}, {"name": "scratch", "emptyDir": {}}],
        },
    }
    validate_pod(pod)


def test_template_without_the_base_container_gets_its_first_container_renamed() -> None:
    template = {"spec": {"containers": [{"name": "main", "image": "a"}, {"name": "side", "image": "b"}]}}
    pod = build(pod_template_dict=template, cmds=["run"])
    assert pod["spec"]["containers"] == [
        {"name": "base", "image": "a", "command": ["run"], "terminationMessagePolicy": "File"},
        {"name": "side", "image": "b"},
    ]


def test_template_dict_is_not_changed(dag_folder: Path) -> None:
    template = {"metadata": {"labels": {"a": "1"}}, "spec": {"containers": [{"name": "base", "env": []}]}}
    before = copy.deepcopy(template)
    build(image="i", pod_template_dict=template, labels={"b": "2"}, env_vars={"X": "1"}, do_xcom_push=True)
    assert template == before


def test_full_pod_spec_alone_and_over_a_template() -> None:
    full = k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="full", labels={"from": "full"}),
        spec=k8s.V1PodSpec(
            containers=[
                k8s.V1Container(name="base", image="full-image", env=[k8s.V1EnvVar(name="F", value="1")])
            ],
            tolerations=[k8s.V1Toleration(key="full")],
        ),
    )
    assert build(full_pod_spec=full, arguments=["a"]) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "full", "namespace": "default", "labels": {"from": "full"}},
        "spec": {
            "containers": [
                {
                    "name": "base",
                    "image": "full-image",
                    "args": ["a"],
                    "env": [{"name": "F", "value": "1"}],
                    "terminationMessagePolicy": "File",
                }
            ],
            "tolerations": [{"key": "full"}],
            "restartPolicy": "Never",
        },
    }
    template = {
        "metadata": {"name": "tmpl", "labels": {"from": "template", "t": "1"}},
        "spec": {
            "containers": [{"name": "base", "image": "tmpl-image", "env": [{"name": "T", "value": "1"}]}],
            "tolerations": [{"key": "tmpl"}],
            "priorityClassName": "low",
        },
    }
    assert build(full_pod_spec=full, pod_template_dict=template) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "full", "namespace": "default", "labels": {"from": "full", "t": "1"}},
        "spec": {
            "containers": [
                {
                    "name": "base",
                    "image": "full-image",
                    "env": [{"name": "T", "value": "1"}, {"name": "F", "value": "1"}],
                    "terminationMessagePolicy": "File",
                }
            ],
            "tolerations": [{"key": "full"}],
            "priorityClassName": "low",
            "restartPolicy": "Never",
        },
    }


def test_template_name_gets_the_random_suffix() -> None:
    pod = build_pod(
        keywords=PodKeywords(
            pod_template_dict={"metadata": {"name": "tmpl"}, "spec": {"containers": []}}, image="i"
        ),
        namespace="n",
    )
    match = SUFFIXED.match(pod["metadata"]["name"])
    assert match and match["stem"] == "tmpl"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "not found"),
        ("a: [unclosed", "invalid YAML at line 1, column 13"),
        ("- just\n- a list\n", "must hold one Pod (a mapping), not a list"),
        ("kind: Job\nspec: {}\n", "holds a Job, not a Pod"),
        ("spec: {containers: {name: base}}\n", "spec.containers must be a list of mappings"),
        ("spec: {volumes: [cache]}\n", "spec.volumes must be a list of mappings"),
        ("spec: [a]\n", "metadata and spec must be mappings"),
    ],
)
def test_bad_template_files(tmp_path: Path, content: str | None, words: str) -> None:
    if content is not None:
        (tmp_path / "pod.yaml").write_text(content)
    with pytest.raises(ConfigurationError, match=re.escape(words)):
        build_pod(
            keywords=PodKeywords(image="i", pod_template_file="pod.yaml"),
            namespace="n",
            task_id="t",
            template_base_dir=str(tmp_path),
        )


def test_absolute_template_path(dag_folder: Path) -> None:
    pod = build(image="i", pod_template_file=str(dag_folder / "templates" / "pod.yaml"))
    assert pod["metadata"]["name"] == "from-template"


def test_full_pod_spec_of_the_wrong_kind() -> None:
    with pytest.raises(ConfigurationError, match="full_pod_spec must hold one Pod"):
        build(image="i", full_pod_spec=["not", "a", "pod"])


# --- XCom sidecar ---------------------------------------------------------------------------------------


def test_do_xcom_push_adds_the_sidecar_and_the_shared_volume() -> None:
    pod = build(
        image="busybox",
        do_xcom_push=True,
        volumes=[{"name": "v", "emptyDir": {}}],
        volume_mounts=[{"name": "v", "mountPath": "/v"}],
    )
    assert pod["spec"]["volumes"] == [{"name": "xcom", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]
    assert pod["spec"]["containers"] == [
        {
            "name": "base",
            "image": "busybox",
            "volumeMounts": [
                {"name": "xcom", "mountPath": "/airflow/xcom"},
                {"name": "v", "mountPath": "/v"},
            ],
            "terminationMessagePolicy": "File",
        },
        {
            "name": "airflow-xcom-sidecar",
            "image": XCOM_SIDECAR_IMAGE,
            "command": XCOM_COMMAND,
            "volumeMounts": [{"name": "xcom", "mountPath": "/airflow/xcom"}],
            "resources": {"requests": {"cpu": "1m", "memory": "10Mi"}},
        },
    ]
    assert XCOM_SIDECAR_IMAGE.startswith("alpine:")
    validate_pod(pod)


def test_xcom_sidecar_image_resources_and_security_context_can_be_set() -> None:
    pod = build(
        image="busybox",
        do_xcom_push=True,
        xcom_sidecar_image="busybox:local",
        xcom_sidecar_resources=k8s.V1ResourceRequirements(limits={"cpu": "10m"}),
        xcom_sidecar_container_security_context={"runAsNonRoot": True},
    )
    assert pod["spec"]["containers"][1] == {
        "name": "airflow-xcom-sidecar",
        "image": "busybox:local",
        "command": XCOM_COMMAND,
        "volumeMounts": [{"name": "xcom", "mountPath": "/airflow/xcom"}],
        "resources": {"limits": {"cpu": "10m"}},
        "securityContext": {"runAsNonRoot": True},
    }


def test_xcom_mount_goes_to_the_base_container_found_by_name() -> None:
    template = {"spec": {"containers": [{"name": "side", "image": "s"}, {"name": "base", "image": "b"}]}}
    pod = build(pod_template_dict=template, do_xcom_push=True)
    names = [c["name"] for c in pod["spec"]["containers"]]
    assert names == ["side", "base", "airflow-xcom-sidecar"]
    assert "volumeMounts" not in pod["spec"]["containers"][0]
    assert pod["spec"]["containers"][1]["volumeMounts"] == [{"name": "xcom", "mountPath": "/airflow/xcom"}]


# --- validate_pod ---------------------------------------------------------------------------------------


def valid_pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "job-1.a", "namespace": "team-a", "labels": {"example.com/app": "x"}},
        "spec": {
            "containers": [
                {
                    "name": "base",
                    "image": "busybox",
                    "env": [{"name": "A", "value": "1"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "1Gi"}, "limits": {"cpu": 1}},
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "initContainers": [{"name": "init", "image": "busybox"}],
            "volumes": [{"name": "data", "emptyDir": {}}],
        },
    }


def test_a_valid_pod_passes() -> None:
    validate_pod(valid_pod())


def _set(path: str, value: Any) -> Any:
    def change(pod: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = pod
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value

    return change


_DELETE = object()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (_set("metadata.name", ""), "metadata.name is empty"),
        (_set("metadata.name", "Job_1"), "metadata.name 'Job_1' is not a valid pod name"),
        (_set("metadata.name", "a" * 254), "at most 253"),
        (_set("metadata.name", "-job"), "not a valid pod name"),
        (_set("metadata.namespace", "team.a"), "metadata.namespace 'team.a' is not a valid namespace"),
        (_set("metadata.namespace", _DELETE), "metadata.namespace None"),
        (_set("metadata.labels", {"bad key!": "v"}), "metadata.labels key 'bad key!' is invalid"),
        (_set("metadata.labels", {"UPPER.example/x": "v"}), "prefix must be a DNS subdomain"),
        (_set("metadata.labels", {"k": "x" * 64}), "metadata.labels['k'] value"),
        (_set("metadata.labels", {"k": "has space"}), "sanitize_label_value()"),
        (_set("metadata.labels", {"k": 1}), "metadata.labels['k'] value 1 is invalid"),
        (_set("metadata.annotations", {"k": 1}), "metadata.annotations['k'] must be a string"),
        (_set("spec.containers", []), "spec.containers is empty"),
        (_set("spec.containers.0.image", ""), "spec.containers[0] ('base').image is empty"),
        (_set("spec.containers.0.image", _DELETE), "pass image="),
        (_set("spec.initContainers.0.image", " "), "spec.initContainers[0] ('init').image is empty"),
        (
            _set("spec.containers.0.name", "Base_1"),
            "spec.containers[0].name 'Base_1' is not a valid container",
        ),
        (_set("spec.initContainers.0.name", "base"), "container name 'base' is used twice"),
        (_set("spec.containers.0.resources.requests.memory", "2 GB"), "requests['memory']: '2 GB' is not a"),
        (
            _set("spec.containers.0.resources.limits.cpu", "-1"),
            "limits['cpu']: '-1': resource quantities cannot",
        ),
        (_set("spec.containers.0.resources.requests.cpu", "2"), "the cpu request '2' is above its limit 1"),
        (_set("spec.containers.0.env.0.name", ""), "spec.containers[0] ('base').env[0].name '' is invalid"),
        (_set("spec.containers.0.env.0.name", "A=B"), "without '='"),
        (
            _set("spec.containers.0.volumeMounts.0.name", "nope"),
            "refers to volume 'nope', which the pod does",
        ),
        (_set("spec.containers.0.volumeMounts.0.mountPath", ""), "mountPath is empty"),
        (_set("spec.volumes", [{"name": "data"}, {"name": "data"}]), "volume 'data' is declared twice"),
        (_set("spec.volumes", [{"name": "Data"}]), "spec.volumes[0].name 'Data' is not a valid volume name"),
    ],
)
def test_validate_pod_errors(change: Any, words: str) -> None:
    pod = valid_pod()
    change(pod)
    with pytest.raises(ConfigurationError) as caught:
        validate_pod(pod)
    assert words in str(caught.value)


def test_validate_pod_lists_every_problem_at_once() -> None:
    pod = valid_pod()
    pod["metadata"]["name"] = "Bad_Name"
    pod["spec"]["containers"][0]["image"] = ""
    with pytest.raises(ConfigurationError) as caught:
        validate_pod(pod)
    message = str(caught.value)
    assert message.startswith("invalid pod: ")
    assert "metadata.name 'Bad_Name'" in message and "('base').image is empty" in message


def test_a_built_pod_without_image_fails_validation_before_any_request() -> None:
    with pytest.raises(ConfigurationError, match=re.escape("spec.containers[0] ('base').image is empty")):
        validate_pod(build(name="x"))


# --- quantities -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100m", Decimal("0.1")),
        ("1.5", Decimal("1.5")),
        ("2Gi", Decimal(2 * 1024**3)),
        ("500Mi", Decimal(500 * 1024**2)),
        ("1Ki", Decimal(1024)),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("1.5e-3", Decimal("0.0015")),
        ("1E", Decimal(10**18)),
        ("2k", Decimal(2000)),
        ("3M", Decimal(3_000_000)),
        ("5u", Decimal("0.000005")),
        ("7n", Decimal("0.000000007")),
        (".5", Decimal("0.5")),
        ("5.", Decimal(5)),
        ("+1", Decimal(1)),
        ("0", Decimal(0)),
        ("-0", Decimal(0)),
        (2, Decimal(2)),
        (0.25, Decimal("0.25")),
    ],
)
def test_quantities(text: str | int | float, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "2 GB",
        "-1",
        "-100m",
        "1KB",
        "1K",
        "1ki",
        "1e",
        "e3",
        "Gi",
        "",
        "1.2.3",
        "1Gi ",
        " 1",
        "ten",
        "nan",
        True,
        None,
    ],
)
def test_bad_quantities(text: Any) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_non_finite_and_huge_quantities_are_rejected() -> None:
    with pytest.raises(ValueError):
        parse_quantity(float("inf"))
    with pytest.raises(ValueError, match="exponent"):
        parse_quantity("1e999999999")


# --- label values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("my_dag", "my_dag"),
        ("Task.With.Dots", "Task.With.Dots"),
        ("", ""),
        ("a" * 63, "a" * 63),
        # the provider's make_safe_label_value gives the same values (same MD5 suffix)
        ("manual__2024-01-01T00:00:00+00:00", "manual__2024-01-01T0000000000-701821d7a"),
        ("a" * 64, "a" * 53 + "-014842d48"),
        ("-lead", "lead-7f113dd80"),
        ("trail_", "trail-0fc596528"),
        ("héllo", "hllo-be50e8478"),
        # the provider would return "-18f05aedd", which is not a valid label value
        ("__", "18f05aedd"),
    ],
)
def test_sanitize_label_value(value: str, safe: str) -> None:
    assert sanitize_label_value(value) == safe
    pod = valid_pod()
    pod["metadata"]["labels"] = {"k": safe}
    validate_pod(pod)


# --- to_api_dict ----------------------------------------------------------------------------------------


def test_to_api_dict_on_nested_models() -> None:
    created = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    pod = k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="p", creation_timestamp=created, labels={"a": "b"}),
        spec=k8s.V1PodSpec(
            containers=[
                k8s.V1Container(
                    name="c",
                    image="i",
                    resources=k8s.V1ResourceRequirements(limits={"nvidia.com/gpu": "1"}),
                    env_from=[k8s.V1EnvFromSource(config_map_ref=k8s.V1ConfigMapEnvSource(name="cm"))],
                )
            ],
            volumes=[
                k8s.V1Volume(name="v", config_map=k8s.V1ConfigMapVolumeSource(name="cm", default_mode=0o644))
            ],
            affinity=k8s.V1Affinity(
                pod_anti_affinity=k8s.V1PodAntiAffinity(
                    preferred_during_scheduling_ignored_during_execution=[
                        k8s.V1WeightedPodAffinityTerm(
                            weight=1,
                            pod_affinity_term=k8s.V1PodAffinityTerm(
                                topology_key="kubernetes.io/hostname",
                                label_selector=k8s.V1LabelSelector(match_labels={"app": "x"}),
                            ),
                        )
                    ]
                )
            ),
        ),
    )
    assert to_api_dict(pod) == {
        "metadata": {"name": "p", "creationTimestamp": "2024-01-02T03:04:05+00:00", "labels": {"a": "b"}},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "i",
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                    "envFrom": [{"configMapRef": {"name": "cm"}}],
                }
            ],
            "volumes": [{"name": "v", "configMap": {"name": "cm", "defaultMode": 420}}],
            "affinity": {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 1,
                            "podAffinityTerm": {
                                "topologyKey": "kubernetes.io/hostname",
                                "labelSelector": {"matchLabels": {"app": "x"}},
                            },
                        }
                    ]
                }
            },
        },
    }


def test_to_api_dict_on_asyncio_models_dicts_and_scalars() -> None:
    assert to_api_dict(k8s_async.V1Toleration(key="k", operator="Exists", toleration_seconds=30)) == {
        "key": "k",
        "operator": "Exists",
        "tolerationSeconds": 30,
    }
    mixed = {"a": None, "b": (1, "x", k8s.V1LocalObjectReference(name="n")), "c": datetime.date(2024, 5, 6)}
    assert to_api_dict(mixed) == {"b": [1, "x", {"name": "n"}], "c": "2024-05-06"}
    assert to_api_dict(None) is None and to_api_dict(False) is False and to_api_dict(1.5) == 1.5


def test_to_api_dict_names_what_cannot_be_converted() -> None:
    with pytest.raises(ConfigurationError, match=r"volumes\[0\]\.emptyDir: cannot turn a set"):
        to_api_dict([{"name": "v", "emptyDir": {1, 2}}], where="volumes")


def _pod_with_image(image: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "n"},
        "spec": {"containers": [{"name": "base", "image": image}]},
    }


@pytest.mark.parametrize(
    "image",
    [
        "busybox",
        "busybox:1.36",
        "docker.io/library/busybox:1.36",
        "localhost:5000/team/app:v1.0-rc_1",
        "registry.k8s.io/pause:3.9",
        "My.Registry.example.com/app",  # a registry host may have capitals
        "[::1]:5000/app:latest",
        "quay.io/a_b/c__d/e--f:TAG.1",
        "ghcr.io/org/app@sha256:" + "a" * 64,
        "app:1@sha256:" + "0" * 64,
    ],
)
def test_valid_image_references_pass(image: str) -> None:
    validate_pod(_pod_with_image(image))


@pytest.mark.parametrize(
    "image", ["busybox::1.36", "Busybox", "busybox:", "my app:1", "/app", "app/", "-app", "app@sha256:abc"]
)
def test_invalid_image_references_are_refused_before_the_kubelet_does(image: str) -> None:
    with pytest.raises(ConfigurationError, match="is not a valid image reference"):
        validate_pod(_pod_with_image(image))
