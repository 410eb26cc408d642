"""What users pass (Kubernetes client models, dicts, Secret objects) -> API JSON, without ``kubernetes``.

Users migrating from KubernetesPodOperator pass ``kubernetes.client.models`` objects
(``k8s.V1Volume(...)``, ``k8s.V1EnvVar(...)``, a whole ``k8s.V1Pod``), or the same objects from
``kubernetes_asyncio``, or plain dicts. Both client libraries generate models with two class
attributes, ``openapi_types`` (python attribute -> type) and ``attribute_map`` (python attribute ->
JSON key), so :func:`to_api_dict` duck-types on them and imports neither library.

Plain dicts are taken as API JSON (camelCase keys) and kept as they are, apart from ``None`` values,
which are dropped: the provider sends dicts unchanged too, and turning snake_case keys into camelCase
is not possible without the schema (``nodeSelector``, ``labels`` and resource maps hold user keys).
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigurationError

SECRET_DEPLOY_TYPES = ("env", "volume")


def _is_model(obj: object) -> bool:
    kind = type(obj)
    return isinstance(getattr(kind, "openapi_types", None), dict) and isinstance(
        getattr(kind, "attribute_map", None), dict
    )


def to_api_dict(obj: object, *, where: str = "value") -> Any:
    """A Kubernetes client model, dict, list or scalar -> API JSON (camelCase keys, no ``None``).

    ``where`` names the argument in the error raised for a value that has no JSON form.
    """
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    if isinstance(obj, (datetime.datetime, datetime.date)):
        return obj.isoformat()
    if _is_model(obj):
        kind = type(obj)
        attribute_map: dict[str, str] = kind.attribute_map  # type: ignore[attr-defined]
        result: dict[str, Any] = {}
        for attr in kind.openapi_types:  # type: ignore[attr-defined]
            value = getattr(obj, attr, None)
            if value is not None:
                key = attribute_map.get(attr, attr)
                result[key] = to_api_dict(value, where=f"{where}.{key}")
        return result
    if isinstance(obj, Mapping):
        return {
            str(key): to_api_dict(value, where=f"{where}.{key}")
            for key, value in obj.items()
            if value is not None
        }
    if isinstance(obj, (list, tuple)):
        return [to_api_dict(item, where=f"{where}[{i}]") for i, item in enumerate(obj)]
    raise ConfigurationError(
        f"{where}: cannot turn a {type(obj).__name__} into Kubernetes API JSON; "
        "pass a dict (camelCase keys) or a kubernetes.client model object"
    )


def api_list(value: Any, *, where: str) -> list[Any]:
    """A list of models / dicts -> a list of API JSON; ``None`` -> ``[]``; anything else is an error."""
    if value is None:
        return []
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise ConfigurationError(f"{where} must be a list, not {type(value).__name__}")
    return [to_api_dict(item, where=f"{where}[{i}]") for i, item in enumerate(value)]


def string_list(value: Any, *, where: str) -> list[str]:
    """``cmds`` / ``arguments``: a list of strings (a bare string is an error: it would be split)."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ConfigurationError(f"{where} must be a list of strings, e.g. ['echo', 'hi'], not {value!r}")
    return [str(item) for item in value]


def string_map(value: Mapping[str, Any] | None) -> dict[str, str]:
    """Labels, annotations, node selectors: values as strings, ``None`` -> "" (as the provider)."""
    return {str(k): "" if v is None else str(v) for k, v in (value or {}).items()}


def local_object_refs(value: str | Sequence[Any] | None) -> list[Any]:
    """``image_pull_secrets``: "a,b", or a list of names / V1LocalObjectReference / dicts."""
    if isinstance(value, str):
        return [{"name": name.strip()} for name in value.split(",") if name.strip()]
    items = [{"name": item} if isinstance(item, str) else item for item in value or []]
    return api_list(items, where="image_pull_secrets")


class Secret:
    """A Kubernetes Secret exposed to the base container as env vars or as files in a volume.

    Same constructor and attributes as ``airflow.providers.cncf.kubernetes.secret.Secret``, whose
    objects ``build_pod`` accepts as well:

    - ``Secret("env", "DB_PASSWORD", "db", "password")``: one key as one env var (the name is
      upper-cased, as the provider does);
    - ``Secret("env", None, "db")``: every key of the Secret as env vars (``envFrom``);
    - ``Secret("volume", "/etc/db", "db", items=[...])``: the Secret mounted read-only at a path,
      optionally only some keys (``items``: ``V1KeyToPath`` objects or ``{"key", "path"}`` dicts).
    """

    def __init__(
        self,
        deploy_type: str,
        deploy_target: str | None,
        secret: str,
        key: str | None = None,
        items: list[Any] | None = None,
    ) -> None:
        if deploy_type not in SECRET_DEPLOY_TYPES:
            raise ConfigurationError(f"Secret deploy_type must be 'env' or 'volume', not {deploy_type!r}")
        if key is not None and deploy_target is None:
            raise ConfigurationError(
                f"Secret {secret!r}: key={key!r} needs deploy_target (the env var name to set)"
            )
        self.deploy_type = deploy_type
        self.deploy_target = (
            deploy_target.upper() if deploy_target is not None and deploy_type == "env" else deploy_target
        )
        self.secret = secret
        self.key = key
        self.items = items or []

    def attach_to_pod(self, pod: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of the pod body with this secret attached to its first container."""
        return attach_secret(to_api_dict(pod, where="pod"), self, container_index=0)

    def __eq__(self, other: object) -> bool:
        return (
            getattr(other, "deploy_type", None) == self.deploy_type
            and getattr(other, "deploy_target", None) == self.deploy_target
            and getattr(other, "secret", None) == self.secret
            and getattr(other, "key", None) == self.key
        )

    def __hash__(self) -> int:
        return hash((self.deploy_type, self.deploy_target, self.secret, self.key))

    def __repr__(self) -> str:
        return f"Secret({self.deploy_type}, {self.deploy_target}, {self.secret}, {self.key})"


def secret_volume_name(*, secret: str, target: str | None) -> str:
    """A stable volume name for a secret mount (the provider uses a random uuid)."""
    digest = hashlib.sha256(f"{secret}\0{target}".encode()).hexdigest()[:12]
    return f"secretvol-{digest}"


def attach_secret(pod: dict[str, Any], secret: object, *, container_index: int) -> dict[str, Any]:
    """Attach a Secret (ours or the provider's: duck-typed) to one container of a pod body, in place."""
    try:
        deploy_type = secret.deploy_type  # type: ignore[attr-defined]
        target = secret.deploy_target  # type: ignore[attr-defined]
        name = secret.secret  # type: ignore[attr-defined]
        key = getattr(secret, "key", None)
        items = getattr(secret, "items", None) or []
    except AttributeError as exc:
        raise ConfigurationError(
            f"secrets: expected Secret objects (deploy_type, deploy_target, secret, key), got {secret!r}"
        ) from exc
    container = pod["spec"]["containers"][container_index]
    if deploy_type == "volume":
        volume_name = secret_volume_name(secret=name, target=target)
        source: dict[str, Any] = {"secretName": name}
        if items:
            source["items"] = to_api_dict(list(items), where=f"secret {name!r} items")
        pod["spec"].setdefault("volumes", []).append({"name": volume_name, "secret": source})
        container.setdefault("volumeMounts", []).append(
            {"mountPath": target, "name": volume_name, "readOnly": True}
        )
    elif deploy_type == "env" and key is not None:
        container.setdefault("env", []).append(
            {"name": target, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}}
        )
    elif deploy_type == "env":
        container.setdefault("envFrom", []).append({"secretRef": {"name": name}})
    else:
        raise ConfigurationError(
            f"Secret {name!r}: deploy_type must be 'env' or 'volume', not {deploy_type!r}"
        )
    return pod
