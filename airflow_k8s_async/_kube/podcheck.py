"""Check a pod body before anything touches a cluster; Kubernetes quantities; label-safe values.

:func:`validate_pod` catches what the API server would reject (names, images, quantities, labels,
env var names, mounts of undeclared volumes) and raises one :class:`ConfigurationError` listing every
problem, each naming the field and what to do, so a DAG author fixes them all in one go.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from airflow_k8s_async._kube.mapping import as_list, as_map, metadata_of

from ..errors import ConfigurationError

MAX_LABEL_VALUE = 63
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
# An image reference as the kubelet parses it (the distribution/reference grammar): a name of
# lowercase path components, after an optional registry host[:port], then :tag and/or @digest.
_IMAGE_DOMAIN = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
_IMAGE_HOST = rf"(?:{_IMAGE_DOMAIN}|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_IMAGE_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_REFERENCE = re.compile(
    rf"(?:{_IMAGE_HOST}/)?{_IMAGE_PATH}(?:/{_IMAGE_PATH})*"
    r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
_QUANTITY = re.compile(r"([+-]?)(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|[numkMGTPE]?)")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def parse_quantity(value: str | int | float) -> Decimal:
    """A Kubernetes resource quantity ("100m", "1.5", "2Gi", "1e3") -> its value as a Decimal.

    Raises ``ValueError`` for anything the API server would reject in ``resources``, including
    negative quantities and spaces ("2 GB").
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{value!r} is not a quantity")
    match = _QUANTITY.fullmatch(str(value)) if isinstance(value, str) else None
    if isinstance(value, (int, float)):
        number, suffix, sign = Decimal(str(value)), "", ""
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a quantity")
    elif match:
        sign, number, suffix = match.group(1), Decimal(match.group(2)), match.group(3)
    else:
        raise ValueError(f"{value!r} is not a quantity (e.g. '500m', '2', '1.5Gi', '1e3')")
    try:
        if suffix in _BINARY:
            result = number * Decimal(1024 ** _BINARY[suffix])
        elif suffix[:1] in ("e", "E") and len(suffix) > 1:
            exponent = int(suffix[1:])
            if abs(exponent) > 100:
                raise ValueError(f"{value!r}: exponent out of range")
            result = number.scaleb(exponent)
        else:
            result = number.scaleb(_DECIMAL[suffix])
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a quantity") from exc
    if (sign == "-" and result != 0) or result < 0:
        raise ValueError(f"{value!r}: resource quantities cannot be negative")
    return result


def sanitize_label_value(value: str) -> str:
    """A label-safe form of ``value`` (<= 63 chars, alphanumerics at both ends, ``-_.`` inside).

    Same result as the provider's ``make_safe_label_value``: a valid value is kept; one that had to
    be changed or cut is cut to 53 chars and gets ``-`` and 9 hex chars of its MD5, so distinct
    values stay distinct and pods labelled by either provider match the same selectors.
    """
    safe = re.sub(r"^[^a-z0-9A-Z]*|[^a-zA-Z0-9_\-\.]|[^a-z0-9A-Z]*$", "", value)
    if len(safe) > MAX_LABEL_VALUE or safe != value:
        digest = hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()[:9]
        head = safe[: MAX_LABEL_VALUE - len(digest) - 1]
        # The provider would start the value with "-" when nothing of it survives; never valid.
        safe = f"{head}-{digest}" if head else digest
    return safe


def _label_key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.fullmatch(prefix)):
        return "its prefix must be a DNS subdomain (lowercase letters, digits, '-', '.')"
    if not name or len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name):
        return "its name must be 1-63 chars: letters, digits, '-', '_', '.', alphanumeric at both ends"
    return None


def check_metadata(metadata: Mapping[str, Any], problems: list[str]) -> None:
    name = metadata.get("name")
    if not name:
        problems.append("metadata.name is empty: pass name= or set metadata.name in the pod template")
    elif not isinstance(name, str) or len(name) > 253 or not DNS_SUBDOMAIN.fullmatch(name):
        problems.append(
            f"metadata.name {name!r} is not a valid pod name: use at most 253 lowercase letters, "
            "digits, '-' and '.', starting and ending with a letter or digit"
        )
    namespace = metadata.get("namespace")
    if not isinstance(namespace, str) or len(namespace) > 63 or not DNS_LABEL.fullmatch(namespace):
        problems.append(
            f"metadata.namespace {namespace!r} is not a valid namespace: use at most 63 lowercase "
            "letters, digits and '-', starting and ending with a letter or digit"
        )
    for key, value in as_map(metadata.get("labels")).items():
        problem = _label_key_problem(str(key))
        if problem:
            problems.append(f"metadata.labels key {key!r} is invalid: {problem}")
        text = value if isinstance(value, str) else None
        if text is None or len(text) > MAX_LABEL_VALUE or (text and not _QUALIFIED_NAME.fullmatch(text)):
            problems.append(
                f"metadata.labels[{key!r}] value {value!r} is invalid: use a string of at most 63 "
                "letters, digits, '-', '_', '.', alphanumeric at both ends (sanitize_label_value() "
                "makes any string safe)"
            )
    for key, value in as_map(metadata.get("annotations")).items():
        problem = _label_key_problem(str(key))
        if problem:
            problems.append(f"metadata.annotations key {key!r} is invalid: {problem}")
        if not isinstance(value, str):
            problems.append(f"metadata.annotations[{key!r}] must be a string, not {type(value).__name__}")


def _check_resources(where: str, resources: Mapping[str, Any], problems: list[str]) -> None:
    parsed: dict[str, dict[str, Decimal]] = {}
    for kind in ("limits", "requests"):
        for resource, quantity in as_map(resources.get(kind)).items():
            try:
                parsed.setdefault(kind, {})[resource] = parse_quantity(quantity)
            except ValueError as exc:
                problems.append(f"{where}.resources.{kind}[{resource!r}]: {exc}")
    for resource, request in parsed.get("requests", {}).items():
        limit = parsed.get("limits", {}).get(resource)
        if limit is not None and request > limit:
            problems.append(
                f"{where}.resources: the {resource} request {resources['requests'][resource]!r} is above "
                f"its limit {resources['limits'][resource]!r}: lower the request or raise the limit"
            )


def _check_container(
    where: str, container: Mapping[str, Any], volumes: set[str], problems: list[str]
) -> None:
    name = container.get("name")
    label = f"{where} ({name!r})" if name else where
    if not isinstance(name, str) or len(name) > 63 or not DNS_LABEL.fullmatch(name):
        problems.append(
            f"{where}.name {name!r} is not a valid container name: use at most 63 lowercase "
            "letters, digits and '-', starting and ending with a letter or digit"
        )
    if not isinstance(container.get("image"), str) or not container["image"].strip():
        problems.append(f"{label}.image is empty: pass image= or set the container's image in the template")
    elif not _IMAGE_REFERENCE.fullmatch(container["image"]):
        problems.append(
            f"{label}.image {container['image']!r} is not a valid image reference: use "
            "[registry[:port]/]name[:tag][@digest], the name in lowercase (e.g. 'busybox:1.36')"
        )
    _check_resources(label, as_map(container.get("resources")), problems)
    for i, env in enumerate(as_list(container.get("env"))):
        env_name = env.get("name")
        if not isinstance(env_name, str) or not env_name or "=" in env_name:
            problems.append(
                f"{label}.env[{i}].name {env_name!r} is invalid: give each env var a name without '='"
            )
    for i, mount in enumerate(as_list(container.get("volumeMounts"))):
        if mount.get("name") not in volumes:
            problems.append(
                f"{label}.volumeMounts[{i}] refers to volume {mount.get('name')!r}, which the pod does not "
                f"declare (declared: {sorted(volumes)}): add it to volumes= or fix the mount's name"
            )
        if not mount.get("mountPath"):
            problems.append(f"{label}.volumeMounts[{i}].mountPath is empty: set the path to mount at")


def validate_pod(pod: Mapping[str, Any]) -> None:
    """Raise ConfigurationError listing every problem the API server would reject in this pod body."""
    problems: list[str] = []
    check_metadata(metadata_of(pod), problems)
    spec = as_map(pod.get("spec"))
    volumes: set[str] = set()
    for i, volume in enumerate(as_list(spec.get("volumes"))):
        name = volume.get("name")
        if not isinstance(name, str) or not DNS_LABEL.fullmatch(name) or len(name) > 63:
            problems.append(f"spec.volumes[{i}].name {name!r} is not a valid volume name (a DNS-1123 label)")
        elif name in volumes:
            problems.append(f"spec.volumes[{i}]: volume {name!r} is declared twice: keep one")
        volumes.add(str(name))
    containers = as_list(spec.get("containers"))
    if not containers:
        problems.append("spec.containers is empty: pass image= or give the pod template a container")
    seen: set[str] = set()
    for field in ("initContainers", "containers"):
        for i, container in enumerate(as_list(spec.get(field))):
            _check_container(f"spec.{field}[{i}]", container, volumes, problems)
            name = str(container.get("name"))
            if name in seen:
                problems.append(
                    f"spec.{field}[{i}]: container name {name!r} is used twice: container names must be "
                    "unique across containers and initContainers"
                )
            seen.add(name)
    if problems:
        raise ConfigurationError("invalid pod: " + "; ".join(problems))
