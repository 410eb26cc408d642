"""Resource bodies: parsing (with line numbers), the job-operator's naming, ownership, env, validation."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import pytest

from airflow_k8s_async._kube.bodies import (
    RESOURCES_ENV,
    builtin_namespaced,
    inject_resources_env,
    job_operator_defaults,
    load_body_file,
    main_container,
    own_resources,
    parse_body,
)
from airflow_k8s_async._kube.bodycheck import validate_resources
from airflow_k8s_async._kube.bodynames import name_limit, name_prefix_from, name_resources, resource_names
from airflow_k8s_async._kube.ownership import MANAGED_BY_KEY, MANAGED_BY_VALUE
from airflow_k8s_async.errors import ConfigurationError

BODY = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: train
spec:
  template:
    metadata:
      annotations:
        kubernetes_job_operator.main_container: main
    spec:
      initContainers:
        - {name: init, image: busybox:local}
      containers:
        - {name: sidecar, image: busybox:local}
        - name: main
          image: busybox:local
          env: [{name: A, value: "1"}]
---
# a comment-only document is dropped
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: ConfigMap
metadata: {generateName: cfg-}
data: {a: b}
"""

OWNED = {MANAGED_BY_KEY: MANAGED_BY_VALUE, "airflow-task": "t1"}


def error(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ConfigurationError) as info:
        call(*args, **kwargs)
    return str(info.value)


def pod(name: str = "p", **spec: Any) -> dict[str, Any]:
    containers = [{"name": "base", "image": "busybox:local"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": containers, **spec},
    }


# --- parse_body ----------------------------------------------------------------------------------


def test_parse_multi_document_yaml_drops_empty_documents() -> None:
    resources = parse_body(BODY)
    assert [(r["kind"], r["metadata"]) for r in resources] == [
        ("Job", {"name": "train"}),
        ("Service", {"name": "web"}),
        ("ConfigMap", {"generateName": "cfg-"}),
    ]
    assert resources[1]["spec"] == {"selector": {"app": "web"}, "ports": [{"port": 80}]}


def test_parse_accepts_a_dict_and_a_list_and_copies_them() -> None:
    one = pod()
    parsed = parse_body(one)
    assert parsed == [one]
    parsed[0]["metadata"]["name"] = "changed"
    assert one["metadata"]["name"] == "p"
    assert parse_body([pod("a"), None, pod("b")]) == [pod("a"), pod("b")]  # type: ignore[list-item]


def test_yaml_syntax_error_names_source_line_and_column() -> None:
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\n"
    text += "metadata:\n  name: b\n  labels: x: y\n"
    assert error(parse_body, text, source="job.yaml") == (
        "job.yaml: invalid YAML at line 9, column 12: mapping values are not allowed here"
    )


def test_yaml_error_with_context() -> None:
    assert error(parse_body, 'a: "unterminated\n') == (
        "body: invalid YAML at line 2, column 1: found unexpected end of stream "
        "(while scanning a quoted scalar)"
    )
    assert error(parse_body, "a: b\n\tc: d\n") == (
        "body: invalid YAML at line 2, column 1: found character '\\t' that cannot start any token "
        "(while scanning for the next token)"
    )


def test_non_mapping_document_names_its_number_and_line() -> None:
    text = "---\n# nothing\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n- a\n- b\n"
    assert error(parse_body, text, source="body.yaml") == (
        "body.yaml document 3 (line 8) is a list, not a mapping: each document must be one "
        "Kubernetes resource (apiVersion, kind, metadata, ...)"
    )
    assert error(parse_body, [pod(), "x"]) == (
        "body[1] is a string, not a mapping: each document must be one Kubernetes resource "
        "(apiVersion, kind, metadata, ...)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: Pod\n", "apiVersion is missing: every resource needs one (e.g. 'v1', 'batch/v1')"),
        (
            "apiVersion: v1\nmetadata: {name: a}\n",
            "kind is missing: every resource needs one (e.g. 'Pod', 'Job')",
        ),
        ("apiVersion: v1\nkind: Pod\n", "metadata is missing: give the resource metadata.name"),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {labels: {a: b}}\n",
            "metadata.name is missing: give the resource a name (or metadata.generateName)",
        ),
    ],
)
def test_required_fields(text: str, message: str) -> None:
    assert error(parse_body, "---\n" + text) == f"body document 1 (line 2): {message}"


def test_values_json_cannot_carry_are_named() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  when: 2024-01-01\n"
    assert error(parse_body, text) == (
        "body document 1 (line 1): data.when: datetime.date(2024, 1, 1) is a date, which JSON "
        "cannot carry: quote it"
    )


def test_empty_body_and_wrong_type() -> None:
    assert error(parse_body, "---\n", source="b") == ("b holds no resources: give at least one")
    assert error(parse_body, 3) == "body must be a YAML string, a dict or a list of dicts, not number"


def test_a_list_stands_for_its_items() -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
        "- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n"
        "---\napiVersion: v1\nkind: ConfigMapList\nitems:\n- metadata: {name: c}\n"
    )
    found = [(r["apiVersion"], r["kind"], r["metadata"]["name"]) for r in parse_body(text)]
    assert found == [("v1", "ConfigMap", "a"), ("v1", "Secret", "b"), ("v1", "ConfigMap", "c")]
    bad = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap}\n"
    assert error(parse_body, bad) == (
        "body document 1 (line 1).items[0]: metadata is missing: give the resource metadata.name"
    )
    assert error(parse_body, "apiVersion: v1\nkind: List\nitems: []\n", source="b") == (
        "b holds no resources: give at least one"
    )


# --- load_body_file ------------------------------------------------------------------------------


def test_load_body_file_relative_to_the_dag_folder(tmp_path: Path) -> None:
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "job.yaml").write_text("kind: Job\n", encoding="utf-8")
    assert load_body_file("jobs/job.yaml", base_dir=str(tmp_path)) == "kind: Job\n"
    assert load_body_file("./jobs/job.yaml", base_dir=str(tmp_path)) == "kind: Job\n"
    assert load_body_file(str(tmp_path / "jobs" / "job.yaml"), base_dir=None) == "kind: Job\n"


def test_load_body_file_errors(tmp_path: Path) -> None:
    assert error(load_body_file, "missing.yaml", base_dir=str(tmp_path)) == (
        f"body_filepath 'missing.yaml': no such file {tmp_path}/missing.yaml "
        "(a relative path is read from the DAG's folder)"
    )
    assert error(load_body_file, "job.yaml", base_dir=None) == (
        "body_filepath 'job.yaml' is relative and the DAG's folder is unknown: use an absolute path"
    )
    assert error(load_body_file, str(tmp_path), base_dir=None) == (
        f"body_filepath {str(tmp_path)!r}: {tmp_path} is a directory, not a file"
    )


# --- naming --------------------------------------------------------------------------------------


def test_name_prefix_is_the_job_operators_valid_name() -> None:
    assert name_prefix_from("My_Task.With Spaces") == "my-task-with-spaces"
    # Longer than 50: the first 10 chars, "--", the last 38.
    assert name_prefix_from("x" * 30 + "_" + "y" * 30) == "x" * 10 + "--" + "x" * 7 + "-" + "y" * 30
    assert name_prefix_from("_task_") == "task"  # the job-operator would keep the dashes
    assert name_prefix_from("abcdefghijklmnopqrst", max_length=16) == "abcdefghij--qrst"
    assert name_prefix_from("abcdefghijklmnopqrst", max_length=8) == "abcdefgh"


def test_names_with_prefix_and_postfix_without_random() -> None:
    named = name_resources(
        parse_body(BODY), name_prefix="My_Task", name_postfix="v2", random_postfix_length=0
    )
    assert resource_names(named) == ["my-task-train-v2", "my-task-web-v2", "my-task-cfg-v2"]
    assert "generateName" not in named[2]["metadata"]
    # Labels and selectors are untouched: the Service still selects the same pods.
    assert named[1]["spec"]["selector"] == {"app": "web"}


def test_random_postfix_is_shared_and_replaces_name_postfix() -> None:
    named = name_resources(parse_body(BODY), name_prefix="t", name_postfix="ignored", random_postfix_length=8)
    names = resource_names(named)
    postfix = names[0].rsplit("-", 1)[1]
    assert re.fullmatch(r"[a-z0-9]{8}", postfix)
    assert names == [f"t-train-{postfix}", f"t-web-{postfix}", f"t-cfg-{postfix}"]


def test_no_prefix_no_postfix_keeps_names() -> None:
    named = name_resources([pod("keep")], name_prefix=None, name_postfix=None, random_postfix_length=0)
    assert resource_names(named) == ["keep"]
    assert resource_names(
        name_resources([pod("keep")], name_prefix="", name_postfix="", random_postfix_length=0)
    ) == ["keep"]


def test_long_names_are_cut_before_the_postfix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "choice", lambda chars: "z")
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "training-job"}, "spec": {}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "training-job"}}
    task_id = "a_rather_long_task_id_that_goes_on_and_on_and_on_forever"
    named = name_resources([job, cm], name_prefix=task_id, name_postfix=None, random_postfix_length=8)
    prefix = "a-rather-l---id-that-goes-on-and-on-and-on-forever"  # 10 + "--" + the last 38
    assert name_prefix_from(task_id) == prefix
    job_name, cm_name = resource_names(named)
    assert job_name == f"{prefix}-tra-zzzzzzzz"  # 63: cut to fit the job-name label
    assert len(job_name) == 63
    assert cm_name == f"{prefix}-training-job-zzzzzzzz"  # a ConfigMap may be 253 long


REFERRING = """\
apiVersion: batch/v1
kind: Job
metadata: {name: job}
spec:
  template:
    spec:
      serviceAccountName: runner
      imagePullSecrets: [{name: pull}, {name: external}]
      volumes:
        - {name: a, configMap: {name: cfg}}
        - {name: b, secret: {secretName: creds}}
        - {name: c, persistentVolumeClaim: {claimName: data}}
        - {name: d, projected: {sources: [{configMap: {name: cfg}}, {secret: {name: creds}}]}}
        - {name: e, configMap: {name: elsewhere}}
      initContainers:
        - name: init
          image: i
          envFrom: [{configMapRef: {name: cfg}}, {secretRef: {name: creds}}]
      containers:
        - name: main
          image: i
          env:
            - {name: A, valueFrom: {configMapKeyRef: {name: cfg, key: a}}}
            - {name: B, valueFrom: {secretKeyRef: {name: creds, key: b}}}
            - {name: C, valueFrom: {secretKeyRef: {name: cfg, key: c}}}
---
{apiVersion: v1, kind: ConfigMap, metadata: {name: cfg}}
---
{apiVersion: v1, kind: Secret, metadata: {name: creds}}
---
{apiVersion: v1, kind: Secret, metadata: {name: pull}}
---
{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: data}}
---
{apiVersion: v1, kind: ServiceAccount, metadata: {name: runner}}
"""


def test_references_to_resources_of_the_same_body_follow_their_new_names() -> None:
    named = name_resources(parse_body(REFERRING), name_prefix="t", name_postfix="x", random_postfix_length=0)
    spec = named[0]["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "t-runner-x"
    assert spec["imagePullSecrets"] == [{"name": "t-pull-x"}, {"name": "external"}]
    assert spec["volumes"] == [
        {"name": "a", "configMap": {"name": "t-cfg-x"}},
        {"name": "b", "secret": {"secretName": "t-creds-x"}},
        {"name": "c", "persistentVolumeClaim": {"claimName": "t-data-x"}},
        {
            "name": "d",
            "projected": {"sources": [{"configMap": {"name": "t-cfg-x"}}, {"secret": {"name": "t-creds-x"}}]},
        },
        {"name": "e", "configMap": {"name": "elsewhere"}},
    ]
    assert spec["initContainers"][0]["envFrom"] == [
        {"configMapRef": {"name": "t-cfg-x"}},
        {"secretRef": {"name": "t-creds-x"}},
    ]
    assert [e["valueFrom"] for e in spec["containers"][0]["env"]] == [
        {"configMapKeyRef": {"name": "t-cfg-x", "key": "a"}},
        {"secretKeyRef": {"name": "t-creds-x", "key": "b"}},
        {"secretKeyRef": {"name": "cfg", "key": "c"}},  # no Secret "cfg" in the body: kept
    ]


def test_references_are_kept_as_the_job_operator_does_when_asked() -> None:
    named = name_resources(
        parse_body(REFERRING),
        name_prefix="t",
        name_postfix="x",
        random_postfix_length=0,
        rename_references=False,
    )
    assert named[0]["spec"]["template"]["spec"]["volumes"][0] == {"name": "a", "configMap": {"name": "cfg"}}
    assert resource_names(named)[1] == "t-cfg-x"


def test_name_limits() -> None:
    assert name_limit(api_version="v1", kind="Pod") == 63
    assert name_limit(api_version="batch/v1", kind="Job") == 63
    assert name_limit(api_version="batch/v1", kind="CronJob") == 52
    assert name_limit(api_version="v1", kind="ConfigMap") == 253
    assert name_limit(api_version="example.com/v1", kind="Job") == 253


# --- ownership -----------------------------------------------------------------------------------


def test_own_resources_labels_resources_and_pod_templates() -> None:
    cronjob = {
        "apiVersion": "batch/v1beta1",
        "kind": "CronJob",
        "metadata": {"name": "c", "labels": {"keep": "me"}},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}},
    }
    owned = own_resources(
        [*parse_body(BODY), cronjob], labels=OWNED, namespace="ns", namespaced=builtin_namespaced
    )
    job, service, config_map, cron = owned
    assert job["metadata"]["labels"] == OWNED
    assert job["spec"]["template"]["metadata"] == {
        "annotations": {"kubernetes_job_operator.main_container": "main"},
        "labels": OWNED,
    }
    assert service["metadata"]["labels"] == OWNED
    assert service["spec"]["selector"] == {"app": "web"}
    assert config_map["metadata"] == {"generateName": "cfg-", "namespace": "ns", "labels": OWNED}
    assert cron["metadata"]["labels"] == {"keep": "me", **OWNED}
    assert cron["spec"]["jobTemplate"]["metadata"]["labels"] == OWNED
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"] == OWNED
    assert {r["metadata"]["namespace"] for r in owned} == {"ns"}


def test_own_resources_namespace_only_for_namespaced_kinds() -> None:
    resources = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}},
        {"apiVersion": "example.com/v1", "kind": "Proxy", "metadata": {"name": "p"}},
        {"apiVersion": "example.com/v1", "kind": "Sleeper", "metadata": {"name": "s"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "q", "namespace": "other"}},
    ]
    scope = {"Namespace": False, "Proxy": False, "Sleeper": True, "Pod": True}
    owned = own_resources(resources, labels=OWNED, namespace="ns", namespaced=lambda v, k: scope[k])
    assert [r["metadata"].get("namespace") for r in owned] == [None, None, "ns", "other"]
    assert all(r["metadata"]["labels"] == OWNED for r in owned)
    assert "namespace" not in resources[2]["metadata"]  # the input is untouched


def test_builtin_namespaced() -> None:
    assert builtin_namespaced("v1", "Namespace") is False
    assert builtin_namespaced("rbac.authorization.k8s.io/v1", "ClusterRole") is False
    assert builtin_namespaced("v1", "Pod") is True
    assert builtin_namespaced("example.com/v1", "Anything") is True


# --- env -----------------------------------------------------------------------------------------


def test_inject_resources_env_on_the_tracked_resources_containers() -> None:
    resources = [*parse_body(BODY), pod("second")]
    injected = inject_resources_env(resources, names=["a", "b", "c"])
    spec = injected[0]["spec"]["template"]["spec"]
    env = {"name": RESOURCES_ENV, "value": "a b c"}
    assert spec["containers"][0]["env"] == [env]
    assert spec["containers"][1]["env"] == [env, {"name": "A", "value": "1"}]
    assert "env" not in spec["initContainers"][0]
    assert "env" not in injected[3]["spec"]["containers"][0]  # only the tracked (first) resource
    assert "env" not in resources[0]["spec"]["template"]["spec"]["containers"][0]


def test_inject_resources_env_on_a_pod_keeps_a_value_set_by_the_user() -> None:
    mine = pod()
    mine["spec"]["containers"][0]["env"] = [{"name": RESOURCES_ENV, "value": "mine"}]
    injected = inject_resources_env([mine], names=["p"])
    assert injected[0]["spec"]["containers"][0]["env"] == [{"name": RESOURCES_ENV, "value": "mine"}]
    assert inject_resources_env([pod()], names=["p", "q"])[0]["spec"]["containers"][0]["env"] == [
        {"name": RESOURCES_ENV, "value": "p q"}
    ]


# --- defaults and main container -----------------------------------------------------------------


def test_job_operator_defaults() -> None:
    job, service, _ = job_operator_defaults(parse_body(BODY))
    assert job["spec"]["backoffLimit"] == 0
    assert job["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert "restartPolicy" not in service["spec"]
    assert job_operator_defaults([pod()])[0]["spec"]["restartPolicy"] == "Never"
    kept = job_operator_defaults([pod(restartPolicy="OnFailure")])
    assert kept[0]["spec"]["restartPolicy"] == "OnFailure"


def test_main_container() -> None:
    job = parse_body(BODY)[0]
    assert main_container(job) == "main"  # the annotation on the Job's pod template
    assert main_container(job["spec"]["template"]) == "main"
    assert main_container(job["spec"]["template"]["spec"]) == "sidecar"  # a bare spec: the first
    two = pod()
    two["spec"]["containers"] = [{"name": "x", "image": "i"}, {"name": "base", "image": "i"}]
    assert main_container(two) == "base"
    two["metadata"]["annotations"] = {"kubernetes_job_operator.main_container": "x"}
    assert main_container(two) == "x"


# --- validation ----------------------------------------------------------------------------------


def test_valid_resources_pass() -> None:
    resources = name_resources(parse_body(BODY), name_prefix="t", name_postfix=None, random_postfix_length=5)
    validate_resources(own_resources(resources, labels=OWNED, namespace="ns", namespaced=builtin_namespaced))
    validate_resources(parse_body(BODY))  # before naming: a generateName alone is fine


def test_validation_names_resource_and_field() -> None:
    resources: list[dict[str, Any]] = [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "Bad_Job", "labels": {"a": "b c"}},
            "spec": {"template": {"spec": {"containers": [{"name": "Main", "image": ""}]}}},
        },
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "1svc"}},
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "Bad"},
            "spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "x"}}}]},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "system:ok"}},
        {"apiVersion": "example.com/v1", "kind": "Sleeper", "metadata": {"name": "a/b"}},
    ]
    message = error(validate_resources, resources)
    assert message.split("; ") == [
        "invalid resources: resources[0] (Job/Bad_Job): metadata.name 'Bad_Job' is not a valid Job name: "
        "use at most 63 lowercase letters, digits, '-' and '.' (a label), alphanumeric at both ends",
        "resources[0] (Job/Bad_Job): metadata.labels['a'] value 'b c' is invalid: use a string of at most 63 "
        "letters, digits, '-', '_', '.', alphanumeric at both ends "
        "(sanitize_label_value() makes any string safe)",
        "resources[0] (Job/Bad_Job): spec.template.spec.containers[0].name 'Main' is not a valid "
        "container name: "
        "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
        "resources[0] (Job/Bad_Job): spec.template.spec.containers[0] ('Main').image is empty: "
        "pass image= or set the container's image in the template",
        "resources[1] (Service/1svc): metadata.name '1svc' is not a valid Service name: use at most 63 "
        "lowercase letters, digits and '-', starting with a letter, alphanumeric at both ends",
        "resources[2] (Pod/p): metadata.namespace 'Bad' is not a valid namespace: use at most 63 lowercase "
        "letters, digits and '-', starting and ending with a letter or digit",
        "resources[2] (Pod/p): spec.containers[0] ('c').resources.limits['cpu']: 'x' is not a quantity "
        "(e.g. '500m', '2', '1.5Gi', '1e3')",
        "resources[4] (ConfigMap/c): the same ConfigMap as resources[3]: give it another name",
        "resources[6] (Sleeper/a/b): metadata.name 'a/b' is invalid: use at most 253 characters, "
        "without '/' or '%'",
    ]


def test_validation_of_cronjob_templates_and_name_length() -> None:
    cron = {
        "apiVersion": "batch/v1beta1",
        "kind": "CronJob",
        "metadata": {"name": "c" * 53},
        "spec": {
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "c",
                                    "image": "i",
                                    "volumeMounts": [{"name": "v", "mountPath": "/v"}],
                                }
                            ]
                        }
                    }
                }
            }
        },
    }
    where = f"resources[0] (CronJob/{'c' * 53})"
    assert error(validate_resources, [cron]).split("; ") == [
        f"invalid resources: {where}: metadata.name '{'c' * 53}' is not a valid CronJob name: use at most 52 "
        "lowercase letters, digits, '-' and '.', alphanumeric at both ends",
        f"{where}: spec.jobTemplate.spec.template.spec.containers[0] ('c').volumeMounts[0] refers to "
        "volume 'v', "
        "which the pod does not declare (declared: []): add it to volumes= or fix the mount's name",
    ]


def test_custom_kinds_templates_are_not_validated_as_pods() -> None:
    custom = {
        "apiVersion": "example.com/v1",
        "kind": "Sleeper",
        "metadata": {"name": "s"},
        "spec": {"template": {"spec": {"seconds": 3}}},
    }
    validate_resources([custom])
