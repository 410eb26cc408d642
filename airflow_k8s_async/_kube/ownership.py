"""Labels that mark what our operators create, so triggers can share one selective watch."""

from __future__ import annotations

MANAGED_BY_KEY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "airflow-k8s-async"
# Every trigger in a namespace watches through this one selector, so they share one watch and
# the watch carries only our objects, however busy the namespace.
MANAGED_SELECTOR = f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE}"
# Set on a pod once its outcome was reported, so a later retry does not adopt it again
# (the same key and value as the cncf.kubernetes provider).
CHECKED_KEY = "already_checked"
# Set by a try that adopts an earlier try's pod (reattach_on_restart), to that try's number: the
# earlier try's trigger, killed by the same clear, must then keep the pod (see podsubmit).
ADOPTED_KEY = "airflow-k8s-async/adopted-by-try"
