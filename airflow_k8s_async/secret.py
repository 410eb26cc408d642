"""``Secret``: expose a Kubernetes Secret to the pod as env vars or files, as the cncf provider does.

Drop-in for ``airflow.providers.cncf.kubernetes.secret.Secret`` (same arguments); the operators
accept the provider's own ``Secret`` objects too. Imports nothing from Airflow.
"""

from __future__ import annotations

from ._kube.k8s_objects import Secret

__all__ = ["Secret"]
