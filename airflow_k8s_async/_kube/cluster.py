"""ClusterConfig: how to reach one Kubernetes cluster, as a small hashable value.

It keys the client cache and the watch hub, so every trigger that talks to the same cluster in
the same way shares one client and one watch per resource. It is built in the process that uses
it (the worker or the triggerer) from a connection id and keywords; it is never serialized into
trigger kwargs, because ``config_dict`` may carry credentials.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_k8s_async.errors import ConfigurationError


@dataclass(frozen=True)
class ClusterConfig:
    """One way to reach a cluster.

    Exactly one source is used, in this order: ``in_cluster``; ``config_dict`` (a kubeconfig as
    canonical JSON); ``config_file`` (a path, or several joined by ``os.pathsep`` like
    ``KUBECONFIG``); otherwise the default: in-cluster when running in a pod, else ``$KUBECONFIG``
    or ``~/.kube/config``. ``context`` picks a kubeconfig context.
    """

    in_cluster: bool = False
    config_file: str | None = None
    config_dict: str | None = field(default=None, repr=False)
    context: str | None = None
    verify_ssl: bool = True

    def __post_init__(self) -> None:
        if self.in_cluster and (self.config_file or self.config_dict):
            # The provider rejects this too; we say which keyword to drop.
            raise ConfigurationError(
                "in_cluster=True cannot be combined with a kubeconfig "
                "(config_file / kube_config_path / kube_config): drop one of them"
            )

    @classmethod
    def from_kubeconfig_dict(
        cls, kubeconfig: Mapping[str, Any], *, context: str | None = None, verify_ssl: bool = True
    ) -> ClusterConfig:
        """A config from an in-memory kubeconfig (e.g. a connection's ``kube_config`` extra)."""
        if not isinstance(kubeconfig, Mapping) or not kubeconfig.get("clusters"):
            raise ConfigurationError("the kubeconfig has no 'clusters' entry: it is not a kubeconfig")
        return cls(config_dict=json.dumps(kubeconfig, sort_keys=True), context=context, verify_ssl=verify_ssl)

    def kubeconfig_dict(self) -> dict[str, Any] | None:
        """The in-memory kubeconfig, if this config carries one."""
        return None if self.config_dict is None else dict(json.loads(self.config_dict))

    def describe(self) -> str:
        """A one-line, secret-free description for logs and error messages."""
        if self.in_cluster:
            source = "in-cluster service account"
        elif self.config_dict is not None:
            source = "kubeconfig from the connection"
        elif self.config_file:
            source = f"kubeconfig {self.config_file}"
        else:
            source = "default kubeconfig / in-cluster"
        if self.context:
            source += f", context {self.context}"
        if not self.verify_ssl:
            source += ", TLS verification off"
        return source
