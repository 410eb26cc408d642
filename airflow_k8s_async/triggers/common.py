"""What every trigger of this package shares in one triggerer process."""

from __future__ import annotations

from airflow.configuration import conf

from airflow_k8s_async._kube.watch import WatchHub, get_hub

SECTION = "kubernetes_async"


def shared_hub() -> WatchHub:
    """The event loop's watch hub, configured from the ``[kubernetes_async]`` section."""
    return get_hub(
        timeout_seconds=conf.getint(SECTION, "watch_timeout_seconds", fallback=300),
        linger=conf.getfloat(SECTION, "watch_linger_seconds", fallback=10.0),
    )
