"""Loading a cluster's credentials into a kubernetes-asyncio ``Configuration``: in-cluster, a
kubeconfig file and context, or a kubeconfig held in a connection.

Apart from ``client.py`` (requests over the pooled session): the client calls
:func:`load_configuration` when it connects and again after a 401, and :func:`tls_identity` tells
it whether new credentials need a new session.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config import ConfigException
from kubernetes_asyncio.config.incluster_config import load_incluster_config
from kubernetes_asyncio.config.kube_config import KubeConfigLoader, KubeConfigMerger

from airflow_k8s_async._kube.cluster import ClusterConfig
from airflow_k8s_async.errors import ConfigurationError

__all__ = ["load_configuration", "tls_identity"]


def _default_kubeconfig_paths() -> str:
    return os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")


async def load_configuration(cluster: ClusterConfig) -> Configuration:
    """Read credentials and cluster info for ``cluster`` into a fresh Configuration."""
    cfg: Configuration = type.__call__(Configuration)  # fresh, not a copy of the global default
    try:
        in_cluster = cluster.in_cluster or (
            cluster.config_dict is None
            and cluster.config_file is None
            and "KUBERNETES_SERVICE_HOST" in os.environ
        )
        if in_cluster:
            await asyncio.to_thread(load_incluster_config, client_configuration=cfg)
        else:
            if cluster.config_dict is not None:
                source: Any = cluster.kubeconfig_dict()
            else:
                paths = cluster.config_file or _default_kubeconfig_paths()
                # File reads and YAML parsing stay off the event loop.
                merger = await asyncio.to_thread(KubeConfigMerger, paths)
                if merger.config is None:
                    raise ConfigurationError(
                        f"no kubeconfig found at {paths}: set the connection's kube_config_path, "
                        "config_file=, or KUBECONFIG"
                    )
                source = merger.config
            loader = KubeConfigLoader(
                config_dict=source, active_context=cluster.context, config_base_path=None
            )
            await loader.load_and_set(cfg)
    except ConfigException as exc:
        raise ConfigurationError(f"cannot load cluster credentials ({cluster.describe()}): {exc}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"malformed kubeconfig ({cluster.describe()}): {exc!r}") from exc
    if not cluster.verify_ssl:
        cfg.verify_ssl = False
    return cfg


def tls_identity(cfg: Configuration) -> tuple[Any, ...]:
    """What of ``cfg`` a session is bound to (server, CA, client certificate): a change needs a new one."""
    return (cfg.host, cfg.ssl_ca_cert, cfg.cert_file, cfg.key_file, cfg.verify_ssl, cfg.tls_server_name)
