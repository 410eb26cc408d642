"""A cluster config whose user is a bearer token (``k8s_token_retriever``), for reading pod logs.

Blocking (reads the kubeconfig file): call it from a thread in the triggerer.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from airflow_k8s_async._kube.cluster import ClusterConfig
from airflow_k8s_async.errors import ConfigurationError


def _kubeconfig(cluster: ClusterConfig) -> dict[str, Any]:
    inline = cluster.kubeconfig_dict()
    if inline is not None:
        return inline
    path = (
        cluster.config_file or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    ).split(os.pathsep)[0]
    try:
        loaded = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(
            f"cannot read kubeconfig {path} for the Armada job's cluster: {exc}"
        ) from exc
    if not isinstance(loaded, dict):
        raise ConfigurationError(f"{path} is not a kubeconfig")
    return loaded


def with_token(cluster: ClusterConfig, token: str) -> ClusterConfig:
    """``cluster`` (a kubeconfig and context) with its user's credentials replaced by ``token``."""
    if cluster.in_cluster:
        raise ConfigurationError("k8s_token_retriever needs a kubeconfig, not an in-cluster configuration")
    config = _kubeconfig(cluster)
    context_name = cluster.context or config.get("current-context")
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or []}
    if context_name not in contexts:
        raise ConfigurationError(
            f"the kubeconfig has no context {context_name!r} (contexts: {sorted(map(str, contexts))}): "
            "name the Armada cluster's context with cluster_context="
        )
    context = dict(contexts[context_name])
    context["user"] = "armada-token"
    config = {
        **config,
        "contexts": [{"name": context_name, "context": context}],
        "users": [{"name": "armada-token", "user": {"token": token}}],
        "current-context": context_name,
    }
    return ClusterConfig.from_kubeconfig_dict(config, context=context_name, verify_ssl=cluster.verify_ssl)
