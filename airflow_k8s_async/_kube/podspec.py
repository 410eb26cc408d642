"""KubernetesPodOperator-compatible keywords -> one Pod body (a plain dict ready to POST), in one place.

``build_pod`` starts from ``full_pod_spec`` / ``pod_template_dict`` / ``pod_template_file`` and lays the
keywords on top with the provider's precedence (``podmerge``: truthy keyword values win, lists such as
``env``, ``volumeMounts`` and ``volumes`` are concatenated template-first). Then, as the provider:
``restartPolicy: Never``, the pod name (+ random suffix), the namespace, ``secrets`` on the base
container, the XCom sidecar, and last the operator's ownership labels. Call ``validate_pod`` on the
result before anything touches a cluster.

keyword                          -> where it lands
image, cmds, arguments           -> base container image, command, args
ports, image_pull_policy         -> base container ports, imagePullPolicy
container_resources              -> base container resources
container_security_context       -> base container securityContext
termination_message_policy       -> base container terminationMessagePolicy ("File")
env_vars (+ pod_runtime_info_envs) -> base container env (a dict becomes name/value pairs)
env_from (+ configmaps)          -> base container envFrom (configmaps: configMapRef per name)
volume_mounts / volumes          -> base container volumeMounts / spec.volumes
secrets                          -> base container env / envFrom / volumeMounts + spec.volumes
name, namespace, labels, annotations -> metadata
node_selector, affinity, tolerations, runtime_class_name, schedulername, priority_class_name,
service_account_name, automount_service_account_token, hostnetwork, host_aliases, hostname,
subdomain, dnspolicy, dns_config, security_context, image_pull_secrets, init_containers,
termination_grace_period, active_deadline_seconds -> spec (camelCase of the same name)
do_xcom_push, xcom_sidecar_*     -> "airflow-xcom-sidecar" container + "xcom" emptyDir at /airflow/xcom

Deliberate differences from the provider (10.25): containers are merged by name before position
(``podmerge``); a template's ``spec.securityContext`` / ``spec.affinity`` survive when the keywords
leave them unset (the provider, with kubernetes client 37, replaces them with empty objects); a missing
``pod_template_file`` is an error, not an empty pod; fields the server fills in (``status``, ``uid``,
``resourceVersion``, ...) are dropped from templates; secret volumes get stable names; dicts are
accepted wherever models are; empty fields are left out rather than sent as ``[]`` / ``false``.

Left out, because they do not shape the pod (the operator handles them): kubernetes_conn_id,
in_cluster, cluster_context, config_file, reattach_on_restart, durable, startup_timeout_seconds,
startup_check_interval_seconds, schedule_timeout_seconds, get_logs, init_container_logs,
container_logs, base_container_status_polling_interval, log_events_on_failure,
log_events_on_startup, skip_on_exit_code, deferrable, poll_interval, log_pod_spec_on_failure,
on_finish_action, on_kill_action, is_delete_operator_pod, callbacks, progress_callback,
logging_interval, trigger_kwargs, container_name_log_prefix_enabled, log_formatter. Airflow's
``pod_mutation_hook`` and the ``airflow_version`` label need Airflow, so the operator applies them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

import yaml

from ..errors import ConfigurationError
from .bodies import yaml_problem
from .k8s_objects import (
    Secret,
    api_list,
    attach_secret,
    local_object_refs,
    string_list,
    string_map,
    to_api_dict,
)
from .podcheck import parse_quantity, sanitize_label_value, validate_pod
from .podmerge import reconcile_pods
from .podnames import POD_NAME_MAX_LENGTH, add_unique_suffix, name_from_keyword, name_from_task_id

__all__ = [
    "POD_NAME_MAX_LENGTH",
    "XCOM_MOUNT_PATH",
    "XCOM_SIDECAR_IMAGE",
    "XCOM_SIDECAR_NAME",
    "PodKeywords",
    "Secret",
    "add_unique_suffix",
    "build_pod",
    "parse_quantity",
    "sanitize_label_value",
    "to_api_dict",
    "validate_pod",
]

XCOM_MOUNT_PATH = "/airflow/xcom"
XCOM_VOLUME_NAME = "xcom"
XCOM_SIDECAR_NAME = "airflow-xcom-sidecar"
XCOM_SIDECAR_IMAGE = "alpine:3.24.2"  # the provider's pinned default (a tag, so IfNotPresent)
XCOM_SIDECAR_COMMAND = 'trap "exit 0" INT; while true; do sleep 1; done;'
XCOM_SIDECAR_RESOURCES: Mapping[str, Any] = MappingProxyType({"requests": {"cpu": "1m", "memory": "10Mi"}})
# Fields the API server fills in; a template saved with `kubectl get -o yaml` would fail to create.
SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "selfLink", "managedFields", "generation")
_NO_STRINGS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class PodKeywords:
    """KubernetesPodOperator's pod-shaping keywords: same names, same defaults, same meaning."""

    image: str | None = None  # base container image
    name: str | None = None  # pod name, lowercased, runs of [^a-z0-9-] -> "-"; else template's, else task id
    random_name_suffix: bool = True  # append "-" + 8 random [a-z0-9], cutting the name to fit 63 chars
    namespace: str | None = None  # metadata.namespace; wins over the template's and the connection's
    cmds: Sequence[str] | None = None  # base container command (the image's entrypoint when empty)
    arguments: Sequence[str] | None = None  # base container args (the image's CMD when empty)
    ports: Sequence[Any] | None = None  # base container ports (V1ContainerPort or dicts)
    volume_mounts: Sequence[Any] | None = None  # base container volumeMounts (V1VolumeMount or dicts)
    volumes: Sequence[Any] | None = None  # spec.volumes, after the template's (V1Volume or dicts)
    env_vars: Sequence[Any] | Mapping[str, Any] | None = None  # base container env: list, or name->value
    env_from: Sequence[Any] | None = None  # base container envFrom (V1EnvFromSource or dicts)
    secrets: Sequence[Any] | None = None  # Secret objects (ours or the provider's): env, envFrom or volume
    labels: Mapping[str, Any] | None = None  # metadata.labels, merged over the template's (None -> "")
    annotations: Mapping[str, Any] | None = None  # metadata.annotations, merged over the template's
    base_container_name: str | None = None  # the container the keywords shape (None: "base")
    image_pull_policy: str | None = None  # base container imagePullPolicy
    container_resources: Any = None  # base container resources (V1ResourceRequirements or dict)
    affinity: Any = None  # spec.affinity (V1Affinity or dict)
    runtime_class_name: str | None = None  # spec.runtimeClassName
    node_selector: Mapping[str, str] | None = None  # spec.nodeSelector
    image_pull_secrets: str | Sequence[Any] | None = None  # spec.imagePullSecrets: "a,b" or a list
    service_account_name: str | None = None  # spec.serviceAccountName
    automount_service_account_token: bool | None = None  # spec.automountServiceAccountToken
    hostnetwork: bool = False  # spec.hostNetwork
    host_aliases: Sequence[Any] | None = None  # spec.hostAliases (V1HostAlias or dicts)
    tolerations: Sequence[Any] | None = None  # spec.tolerations (V1Toleration or dicts)
    security_context: Any = None  # spec.securityContext (V1PodSecurityContext or dict)
    container_security_context: Any = None  # base container securityContext (V1SecurityContext or dict)
    xcom_sidecar_container_security_context: Any = None  # the XCom sidecar's securityContext
    dnspolicy: str | None = None  # spec.dnsPolicy
    dns_config: Any = None  # spec.dnsConfig (V1PodDNSConfig or dict)
    hostname: str | None = None  # spec.hostname
    subdomain: str | None = None  # spec.subdomain
    schedulername: str | None = None  # spec.schedulerName
    full_pod_spec: Any = None  # a whole pod (V1Pod or dict) laid over the template, under the keywords
    init_containers: Sequence[Any] | None = None  # spec.initContainers, merged by name with the template's
    do_xcom_push: bool = False  # add the XCom sidecar and the shared emptyDir at /airflow/xcom
    pod_template_file: str | None = None  # YAML pod; a relative path is taken from the DAG file's folder
    pod_template_dict: Mapping[str, Any] | None = None  # a pod as a dict (ignored if pod_template_file)
    priority_class_name: str | None = None  # spec.priorityClassName
    pod_runtime_info_envs: Sequence[Any] | None = None  # appended to env (e.g. fieldRef env vars)
    termination_grace_period: int | None = None  # spec.terminationGracePeriodSeconds
    configmaps: Sequence[str] | None = None  # ConfigMap names -> base container envFrom configMapRef
    termination_message_policy: str = "File"  # base container terminationMessagePolicy
    active_deadline_seconds: int | None = None  # spec.activeDeadlineSeconds
    xcom_sidecar_image: str | None = None  # the XCom sidecar's image (the provider: connection extra)
    xcom_sidecar_resources: Any = None  # the XCom sidecar's resources (the provider: connection extra)


def _env(keywords: PodKeywords) -> list[Any]:
    env_vars = keywords.env_vars
    if isinstance(env_vars, Mapping):
        env: list[Any] = [
            {"name": str(k)} if v is None else {"name": str(k), "value": str(v)} for k, v in env_vars.items()
        ]
    else:
        env = api_list(env_vars, where="env_vars")
    return env + api_list(keywords.pod_runtime_info_envs, where="pod_runtime_info_envs")


def _pruned(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Drop ``None`` and empty lists/dicts: the same as absent to the API, and to the merge rules."""
    return {k: v for k, v in fields.items() if v is not None and v != [] and v != {}}


def _keyword_layer(keywords: PodKeywords, *, base_name: str) -> dict[str, Any]:
    k = keywords
    configmaps = [k.configmaps] if isinstance(k.configmaps, str) else list(k.configmaps or [])
    env_from = api_list(k.env_from, where="env_from") + [{"configMapRef": {"name": c}} for c in configmaps]
    container = _pruned(
        {
            "name": base_name,
            "image": k.image,
            "command": string_list(k.cmds, where="cmds"),
            "args": string_list(k.arguments, where="arguments"),
            "ports": api_list(k.ports, where="ports"),
            "imagePullPolicy": k.image_pull_policy,
            "resources": to_api_dict(k.container_resources, where="container_resources"),
            "volumeMounts": api_list(k.volume_mounts, where="volume_mounts"),
            "env": _env(k),
            "envFrom": env_from,
            "securityContext": to_api_dict(k.container_security_context, where="container_security_context"),
            "terminationMessagePolicy": k.termination_message_policy,
        }
    )
    spec = _pruned(
        {
            "runtimeClassName": k.runtime_class_name,
            "nodeSelector": string_map(k.node_selector),
            "affinity": to_api_dict(k.affinity, where="affinity"),
            "tolerations": api_list(k.tolerations, where="tolerations"),
            "initContainers": api_list(k.init_containers, where="init_containers"),
            "hostAliases": api_list(k.host_aliases, where="host_aliases"),
            "containers": [container],
            "imagePullSecrets": local_object_refs(k.image_pull_secrets),
            "serviceAccountName": k.service_account_name,
            "automountServiceAccountToken": k.automount_service_account_token,
            "hostNetwork": True if k.hostnetwork else None,
            "hostname": k.hostname,
            "subdomain": k.subdomain,
            "securityContext": to_api_dict(k.security_context, where="security_context"),
            "dnsPolicy": k.dnspolicy,
            "dnsConfig": to_api_dict(k.dns_config, where="dns_config"),
            "schedulerName": k.schedulername,
            "restartPolicy": "Never",
            "priorityClassName": k.priority_class_name,
            "volumes": api_list(k.volumes, where="volumes"),
            "activeDeadlineSeconds": k.active_deadline_seconds,
            "terminationGracePeriodSeconds": k.termination_grace_period,
        }
    )
    metadata = _pruned(
        {
            "name": name_from_keyword(k.name) if k.name else None,
            "namespace": k.namespace,
            "labels": string_map(k.labels),
            "annotations": string_map(k.annotations),
        }
    )
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def with_defaults(keywords: PodKeywords, defaults: Mapping[str, Any]) -> PodKeywords:
    """``keywords`` with ``defaults`` (the connection's, by keyword name) where the task set none."""
    return replace(keywords, **{k: v for k, v in defaults.items() if getattr(keywords, k) is None})


def load_template_file(path: str, *, base_dir: str | None, keyword: str = "pod_template_file") -> Any:
    """The YAML in ``path`` (absolute, or relative to ``base_dir``); ``keyword`` names it in errors."""
    path = os.path.expanduser(path)
    candidates = [path] if os.path.isabs(path) or not base_dir else [os.path.join(base_dir, path), path]
    found = next((c for c in candidates if os.path.isfile(c)), None)
    if found is None:
        raise ConfigurationError(
            f"{keyword} {path!r} not found (looked at {candidates}): give an absolute path or "
            "one relative to the DAG file's folder"
        )
    try:
        with open(found, encoding="utf-8") as stream:
            return yaml.safe_load(stream)
    except OSError as exc:
        raise ConfigurationError(f"{keyword} {found!r} cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{keyword} {found!r}: {yaml_problem(exc)}") from exc


def _check_pod_shape(body: Any, *, where: str) -> Any:
    """A template must be one Pod with lists of objects where the merge rules expect them."""
    if body is None:
        return None
    if not isinstance(body, dict):
        raise ConfigurationError(f"{where} must hold one Pod (a mapping), not a {type(body).__name__}")
    if body.get("kind", "Pod") != "Pod":
        raise ConfigurationError(f"{where} holds a {body['kind']}, not a Pod: give it a Pod's body")
    spec = body.get("spec", {})
    if not isinstance(spec, dict) or not isinstance(body.get("metadata", {}), dict):
        raise ConfigurationError(f"{where}: metadata and spec must be mappings")
    for field in ("containers", "initContainers", "volumes"):
        items = spec.get(field, [])
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ConfigurationError(f"{where}: spec.{field} must be a list of mappings")
    return body


def _template_layer(keywords: PodKeywords, *, base_dir: str | None) -> dict[str, Any]:
    if keywords.pod_template_file:
        template: Any = load_template_file(keywords.pod_template_file, base_dir=base_dir)
        where = f"pod_template_file {keywords.pod_template_file!r}"
    else:
        template, where = keywords.pod_template_dict, "pod_template_dict"
    template = _check_pod_shape(to_api_dict(template, where=where), where=where)
    full = _check_pod_shape(to_api_dict(keywords.full_pod_spec, where="full_pod_spec"), where="full_pod_spec")
    layer = reconcile_pods(template, full) if template and full else (full or template or {})
    layer.pop("status", None)
    metadata = layer.get("metadata")
    if isinstance(metadata, dict):
        for key in SERVER_METADATA:
            metadata.pop(key, None)
    return layer


def _add_xcom_sidecar(pod: dict[str, Any], *, base: int, keywords: PodKeywords) -> None:
    spec = pod["spec"]
    spec.setdefault("volumes", []).insert(0, {"name": XCOM_VOLUME_NAME, "emptyDir": {}})
    mount = {"name": XCOM_VOLUME_NAME, "mountPath": XCOM_MOUNT_PATH}
    spec["containers"][base].setdefault("volumeMounts", []).insert(0, dict(mount))
    resources = to_api_dict(keywords.xcom_sidecar_resources, where="xcom_sidecar_resources")
    sidecar: dict[str, Any] = {
        "name": XCOM_SIDECAR_NAME,
        "image": keywords.xcom_sidecar_image or XCOM_SIDECAR_IMAGE,
        "command": ["sh", "-c", XCOM_SIDECAR_COMMAND],
        "volumeMounts": [dict(mount)],
        "resources": resources or to_api_dict(XCOM_SIDECAR_RESOURCES),
    }
    security = keywords.xcom_sidecar_container_security_context
    if security is not None:
        sidecar["securityContext"] = to_api_dict(security, where="xcom_sidecar_container_security_context")
    spec["containers"].append(sidecar)


def build_pod(
    *,
    keywords: PodKeywords,
    namespace: str,
    labels: Mapping[str, str] = _NO_STRINGS,
    annotations: Mapping[str, str] = _NO_STRINGS,
    template_base_dir: str | None = None,
    task_id: str | None = None,
) -> dict[str, Any]:
    """The Pod body for these keywords, as the provider's ``build_pod_request_obj`` builds it.

    ``namespace`` is the fallback (the connection's, or "default") when neither ``keywords.namespace``
    nor the template names one. ``labels`` / ``annotations`` (the operator's ownership marks) are
    applied last and always win; label values are made label-safe. ``task_id`` names the pod when
    neither ``keywords.name`` nor the template does.
    """
    base_name = keywords.base_container_name or "base"
    pod = reconcile_pods(
        _template_layer(keywords, base_dir=template_base_dir), _keyword_layer(keywords, base_name=base_name)
    )
    metadata = pod.setdefault("metadata", {})
    name = metadata.get("name")
    if not name:
        if not task_id:
            raise ConfigurationError("the pod has no name: pass name= or set metadata.name in the template")
        metadata["name"] = name_from_task_id(task_id, unique=keywords.random_name_suffix)
    elif keywords.random_name_suffix:
        metadata["name"] = add_unique_suffix(str(name))
    metadata["namespace"] = metadata.get("namespace") or namespace
    containers = pod["spec"]["containers"]
    base = next(i for i, c in enumerate(containers) if isinstance(c, dict) and c.get("name") == base_name)
    for secret in keywords.secrets or []:
        attach_secret(pod, secret, container_index=base)
    if keywords.do_xcom_push:
        _add_xcom_sidecar(pod, base=base, keywords=keywords)
    if labels:
        metadata["labels"] = {
            **(metadata.get("labels") or {}),
            **{k: sanitize_label_value(str(v)) for k, v in labels.items()},
        }
    if annotations:
        metadata["annotations"] = {**(metadata.get("annotations") or {}), **annotations}
    return pod
