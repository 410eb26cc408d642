"""Armada: the names armada-airflow users know, plus what lets them travel without secrets.

``GrpcChannelArgs``, ``RunningJobContext``, ``TokenRetriever`` (protocol), the token retrievers
and ``BearerTokenAuth``, and the ``LookoutLink`` / ``DynamicLink`` extra links. The operator is
:class:`airflow_k8s_async.operators.armada.ArmadaOperator`.
"""

from __future__ import annotations

from airflow_k8s_async.armada.auth import (
    BearerTokenAuth,
    EnvTokenRetriever,
    FileTokenRetriever,
    TokenRetriever,
)
from airflow_k8s_async.armada.links import DynamicLink, LookoutLink
from airflow_k8s_async.armada.model import GrpcChannelArgs, RunningJobContext

__all__ = [
    "BearerTokenAuth",
    "DynamicLink",
    "EnvTokenRetriever",
    "FileTokenRetriever",
    "GrpcChannelArgs",
    "LookoutLink",
    "RunningJobContext",
    "TokenRetriever",
]
