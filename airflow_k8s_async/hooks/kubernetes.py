"""Kubernetes connections: (connection id, explicit keywords) -> :class:`KubeTarget`.

This is the only module that reads Airflow Connections for Kubernetes. Connections of the
cncf provider's type ``kubernetes`` (e.g. ``kubernetes_default``) work unchanged, and so do
connections of our own type ``kubernetes_async``: both carry the same extras.

Where a :class:`KubeTarget` is used:

- operators (worker): ``get_kube_target(conn_id=...)`` to submit, and to pick the namespace
  (explicit argument > ``target.namespace`` > ``"default"``);
- triggers (triggerer): ``await aget_kube_target(conn_id=...)`` at the start of ``run()``, with the
  connection id and keywords from their kwargs; ``target.cluster`` keys the client cache and the
  watch hub (``_kube``), so triggers that reach one cluster the same way share a client and watches.

Neither a ``KubeTarget`` nor its ``ClusterConfig`` goes into trigger kwargs: a kubeconfig from a
connection carries credentials, and trigger kwargs are stored as plain JSON.

Precedence: explicit keyword > connection extra > default (``ClusterConfig()``: in-cluster when in a
pod, else ``$KUBECONFIG`` / ``~/.kube/config``). ``$KUBECONFIG`` is only that default: a connection
with ``kube_config_path`` wins over it (the cncf provider rejects that combination).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_k8s_async._kube.client import KubeClient, get_client
from airflow_k8s_async._kube.cluster import ClusterConfig
from airflow_k8s_async.errors import ConfigurationError

__all__ = [
    "CONN_TYPE",
    "DEFAULT_CONN_ID",
    "EXTRA_NAMES",
    "XCOM_SIDECAR_EXTRAS",
    "KubeTarget",
    "KubernetesAsyncHook",
    "aget_kube_target",
    "get_kube_target",
    "target_from_extras",
]

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "kubernetes_default"
CONN_TYPE = "kubernetes_async"

#: The XCom sidecar's extras (the provider's, read by its pod operator), and the pod keyword each
#: is the default of: a task's own keyword wins.
XCOM_SIDECAR_EXTRAS = {
    "xcom_sidecar_container_image": "xcom_sidecar_image",
    "xcom_sidecar_container_resources": "xcom_sidecar_resources",
    "xcom_sidecar_container_security_context": "xcom_sidecar_container_security_context",
}
#: The extras read from a connection. Each may also carry the prefix ``extra__kubernetes__``
#: (Airflow < 2.3 UI forms) or ``extra__kubernetes_async__``; other extras are ignored.
EXTRA_NAMES = (
    "in_cluster",
    "kube_config_path",
    "kube_config",
    "namespace",
    "cluster_context",
    "disable_verify_ssl",
    "disable_tcp_keepalive",
    *XCOM_SIDECAR_EXTRAS,
)
_PREFIXES = ("extra__kubernetes__", f"extra__{CONN_TYPE}__")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class KubeTarget:
    """What a task or a trigger needs to reach its cluster."""

    cluster: ClusterConfig
    namespace: str | None
    """The connection's ``namespace`` extra, if any (callers fall back to their own default)."""
    pod_defaults: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Pod keywords the connection sets (its XCom sidecar extras), by keyword name."""


def target_from_extras(
    extras: Mapping[str, Any],
    *,
    config_file: str | None = None,
    cluster_context: str | None = None,
    in_cluster: bool | None = None,
    conn_id: str | None = None,
) -> KubeTarget:
    """Build a :class:`KubeTarget` from connection extras and explicit keywords (no Airflow calls).

    Extras (bare or prefixed, see :data:`EXTRA_NAMES`; booleans may be ``"true"`` / ``"false"``):
    ``in_cluster``, ``kube_config_path``, ``kube_config`` (kubeconfig content as a JSON or YAML
    string, or a dict), ``namespace``, ``cluster_context``, ``disable_verify_ssl``, and
    ``disable_tcp_keepalive``, which is accepted and has no effect (in the cncf provider it
    turns off TCP keepalive on the sync urllib3 client; ours always sets it on long-lived streams,
    which also have inactivity bounds). At most one of ``in_cluster``, ``kube_config_path``,
    ``kube_config`` may be set. ``cluster_context`` applies to kubeconfigs only; it is dropped
    for in-cluster configs so equal configs share a client.

    An explicit ``config_file`` replaces the connection's ``in_cluster`` / ``kube_config_path`` /
    ``kube_config``; an explicit ``in_cluster`` replaces them too. ``in_cluster=True`` together
    with ``config_file`` is a :class:`ConfigurationError`. ``conn_id`` only names the connection
    in error messages.
    """
    where = f"connection {conn_id!r}" if conn_id else "the connection extras"
    context = cluster_context or _string(extras, "cluster_context", where)
    verify_ssl = not _boolean(extras, "disable_verify_ssl", where)

    if config_file:
        # With in_cluster=True too, ClusterConfig raises and says which one to drop.
        cluster = ClusterConfig(
            in_cluster=in_cluster is True, config_file=config_file, context=context, verify_ssl=verify_ssl
        )
    elif in_cluster:
        cluster = ClusterConfig(in_cluster=True, verify_ssl=verify_ssl)
    else:
        extra_in_cluster = False if in_cluster is False else _boolean(extras, "in_cluster", where)
        path = _string(extras, "kube_config_path", where)
        content = _field(extras, "kube_config")
        chosen = [
            name
            for name, value in (
                ("in_cluster", extra_in_cluster),
                ("kube_config_path", path),
                ("kube_config", content),
            )
            if value
        ]
        if len(chosen) > 1:
            raise ConfigurationError(
                f"{where} sets the extras {' and '.join(chosen)}, which are mutually exclusive: "
                "keep one (or pass config_file / in_cluster to the task to override the connection)"
            )
        if extra_in_cluster:
            cluster = ClusterConfig(in_cluster=True, verify_ssl=verify_ssl)
        elif path:
            cluster = ClusterConfig(config_file=path, context=context, verify_ssl=verify_ssl)
        elif content:
            kubeconfig = _parse_kubeconfig(content, where)
            try:
                cluster = ClusterConfig.from_kubeconfig_dict(
                    kubeconfig, context=context, verify_ssl=verify_ssl
                )
            except ConfigurationError as exc:
                raise ConfigurationError(f"{where}: extra 'kube_config': {exc}") from None
        else:
            cluster = ClusterConfig(context=context, verify_ssl=verify_ssl)
    return KubeTarget(
        cluster=cluster,
        namespace=_string(extras, "namespace", where),
        pod_defaults=_pod_defaults(extras, where),
    )


def _pod_defaults(extras: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The sidecar extras: the image a string; resources and security context JSON objects (as
    the provider reads them) or mappings. One that is not is ignored with a warning: only tasks
    with an XCom sidecar read it (as in the provider), and the others must not fail for it."""
    defaults: dict[str, Any] = {}
    for extra, keyword in XCOM_SIDECAR_EXTRAS.items():
        value = _field(extras, extra)
        if isinstance(value, str) and extra != "xcom_sidecar_container_image":
            try:
                value = json.loads(value)
            except ValueError:
                value = "not valid JSON"
        wanted = str if extra == "xcom_sidecar_container_image" else Mapping
        if value is not None and not isinstance(value, wanted):
            log.warning(
                "%s: extra %r is not a %s; ignored",
                where,
                extra,
                "string" if wanted is str else "JSON object",
            )
            continue
        if value is not None:
            defaults[keyword] = value.strip() if isinstance(value, str) else value
    return defaults


def get_kube_target(
    *,
    conn_id: str | None = DEFAULT_CONN_ID,
    config_file: str | None = None,
    cluster_context: str | None = None,
    in_cluster: bool | None = None,
) -> KubeTarget:
    """Read the connection (worker side, blocking) and build its :class:`KubeTarget`.

    ``conn_id=None`` reads no connection. A missing ``kubernetes_default`` behaves as an empty
    connection (like the cncf provider); any other missing id is a :class:`ConfigurationError`.
    """
    extras: Mapping[str, Any] = {}
    if conn_id:
        try:
            conn = BaseHook.get_connection(conn_id)
        except AirflowNotFoundException as exc:
            extras = _missing(conn_id, exc)
        else:
            extras = _checked_extras(conn_id, conn.extra, conn.extra_dejson)
    return target_from_extras(
        extras,
        config_file=config_file,
        cluster_context=cluster_context,
        in_cluster=in_cluster,
        conn_id=conn_id,
    )


async def aget_kube_target(
    *,
    conn_id: str | None = DEFAULT_CONN_ID,
    config_file: str | None = None,
    cluster_context: str | None = None,
    in_cluster: bool | None = None,
) -> KubeTarget:
    """Like :func:`get_kube_target`, for the triggerer: never blocks the event loop."""
    extras: Mapping[str, Any] = {}
    if conn_id:
        try:
            conn = await BaseHook.aget_connection(conn_id)
        except AirflowNotFoundException as exc:
            extras = _missing(conn_id, exc)
        else:
            # ``aextra_dejson`` masks secrets without a blocking call to the supervisor.
            aextra = getattr(conn, "aextra_dejson", None)
            parsed = await aextra() if aextra is not None else conn.extra_dejson
            extras = _checked_extras(conn_id, conn.extra, parsed)
    return target_from_extras(
        extras,
        config_file=config_file,
        cluster_context=cluster_context,
        in_cluster=in_cluster,
        conn_id=conn_id,
    )


class KubernetesAsyncHook(BaseHook):
    """Connection type ``kubernetes_async``: the same extras as the cncf ``kubernetes`` type.

    A thin wrapper over :func:`get_kube_target` / :func:`aget_kube_target`; operators and
    triggers call those functions directly. The connection form (fields, hidden standard
    fields) is declared in ``get_provider_info`` (``conn-fields``, Airflow >= 3.2), not in the
    deprecated ``get_connection_form_widgets`` / ``get_ui_field_behaviour``.
    """

    conn_name_attr = "kubernetes_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Kubernetes (airflow-k8s-async)"

    def __init__(
        self,
        kubernetes_conn_id: str | None = DEFAULT_CONN_ID,
        *,
        config_file: str | None = None,
        cluster_context: str | None = None,
        in_cluster: bool | None = None,
    ) -> None:
        super().__init__()
        self.kubernetes_conn_id = kubernetes_conn_id
        self.config_file = config_file
        self.cluster_context = cluster_context
        self.in_cluster = in_cluster

    def get_conn(self) -> KubeTarget:
        """The :class:`KubeTarget` of this hook's connection and keywords (blocking)."""
        return get_kube_target(
            conn_id=self.kubernetes_conn_id,
            config_file=self.config_file,
            cluster_context=self.cluster_context,
            in_cluster=self.in_cluster,
        )

    async def aget_conn(self) -> KubeTarget:
        """The :class:`KubeTarget` of this hook's connection and keywords (async)."""
        return await aget_kube_target(
            conn_id=self.kubernetes_conn_id,
            config_file=self.config_file,
            cluster_context=self.cluster_context,
            in_cluster=self.in_cluster,
        )

    async def aget_client(self) -> KubeClient:
        """The shared client of this hook's cluster on the running event loop (for async code such
        as a ``@task`` run with :func:`airflow_k8s_async.operators.sync.run_sync`, or a trigger)."""
        return await get_client((await self.aget_conn()).cluster)


def _missing(conn_id: str, exc: Exception) -> dict[str, Any]:
    if conn_id == DEFAULT_CONN_ID:
        return {}  # like the cncf provider: the default config (in-cluster, then kubeconfig)
    env = "AIRFLOW_CONN_" + conn_id.upper()
    raise ConfigurationError(
        f"connection {conn_id!r} is not defined: create it (type 'kubernetes' or 'kubernetes_async') "
        f"in the UI, with `airflow connections add {conn_id} --conn-type kubernetes --conn-extra ...`, "
        f"or as the environment variable {env}; or pass kubernetes_conn_id=None to use the default "
        "kubeconfig / in-cluster config"
    ) from exc


def _checked_extras(conn_id: str, raw: str | None, parsed: Mapping[str, Any]) -> Mapping[str, Any]:
    """Airflow turns unparsable ``extra`` JSON into ``{}`` with a log line; we fail instead."""
    if not parsed and raw and raw.strip():
        try:
            json.loads(raw)
        except ValueError:
            raise ConfigurationError(
                f"connection {conn_id!r}: its extra is not valid JSON; fix it in the connection"
            ) from None
    return parsed


def _field(extras: Mapping[str, Any], name: str) -> Any:
    """The extra ``name``, bare first, then with a legacy prefix; ``None`` and ``""`` are unset."""
    for key in (name, *(prefix + name for prefix in _PREFIXES)):
        value = extras.get(key)
        if value is not None and value != "":
            return value
    return None


def _string(extras: Mapping[str, Any], name: str, where: str) -> str | None:
    value = _field(extras, name)
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    raise ConfigurationError(f"{where}: extra {name!r} must be a string, not {type(value).__name__}")


def _boolean(extras: Mapping[str, Any], name: str, where: str) -> bool:
    value = _field(extras, name)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ConfigurationError(f"{where}: extra {name!r} must be true or false, not {value!r}")


def _parse_kubeconfig(content: Any, where: str) -> Mapping[str, Any]:
    """A kubeconfig from a dict, or a JSON / YAML string; errors never echo the content."""
    if isinstance(content, Mapping):
        return content
    problem = f"is a {type(content).__name__}, not a kubeconfig"
    if isinstance(content, str):
        try:
            parsed: Any = json.loads(content)
        except ValueError:
            try:
                parsed = yaml.safe_load(content)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
                # No `from exc`: YAML errors quote the offending line, which may hold a credential.
                raise ConfigurationError(
                    f"{where}: extra 'kube_config' is neither JSON nor YAML{at}; "
                    "paste the kubeconfig's content, or set kube_config_path to a file"
                ) from None
        if isinstance(parsed, Mapping):
            return parsed
        problem = "is not a JSON / YAML mapping (to point at a file, use kube_config_path)"
    raise ConfigurationError(f"{where}: extra 'kube_config' {problem}")
