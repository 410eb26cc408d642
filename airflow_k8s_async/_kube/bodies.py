"""Resource bodies as ``airflow-kubernetes-job-operator`` takes them: YAML, a dict, or a list of dicts.

Pure functions; each returns new dicts and never changes its input. The first resource is the one
the task waits on; the others are created with it (as the job-operator does).

parse_body             YAML (multi-document) / dict / list -> resources; errors name line and column
load_body_file         ``body_filepath`` -> text; a relative path is read from the DAG's folder
job_operator_defaults  the job-operator's per-kind defaults (restartPolicy Never, backoffLimit 0)
own_resources          namespace for namespaced kinds; labels on every resource and its pod templates
inject_resources_env   ``KUBERNETES_JOB_OPERATOR_RESOURCES`` on the tracked resource's containers
main_container         the container that decides a pod's outcome (annotation, "base", first)

Naming the resources (``name_resources``) is in ``bodynames.py``, validating them
(``validate_resources``) in ``bodycheck.py``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml

from airflow_k8s_async._kube.mapping import as_map

from ..errors import ConfigurationError
from .states import main_container_name

__all__ = [
    "CLUSTER_SCOPED_BUILTINS",
    "RESOURCES_ENV",
    "builtin_namespaced",
    "group_of",
    "identity_problem",
    "inject_resources_env",
    "job_operator_defaults",
    "load_body_file",
    "main_container",
    "own_resources",
    "parse_body",
    "pod_templates",
    "yaml_problem",
]

RESOURCES_ENV = "KUBERNETES_JOB_OPERATOR_RESOURCES"
# The label the job-operator puts on everything it creates (value: a uuid per run).
RUNNER_INSTANCE_LABEL = "kubernetes-job-runner-instance-id"
# Built-in kinds that live outside namespaces, by (group, kind); discovery knows the rest.
CLUSTER_SCOPED_BUILTINS = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("node.k8s.io", "RuntimeClass"),
        ("networking.k8s.io", "IngressClass"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    }
)


def group_of(api_version: Any) -> str:
    """The API group of an apiVersion: "batch" of "batch/v1", "" of "v1"."""
    text = str(api_version or "")
    return text.rpartition("/")[0]


def _type_name(value: Any) -> str:
    return {str: "string", list: "list", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


# --- parsing -------------------------------------------------------------------------------------


def yaml_problem(exc: yaml.YAMLError) -> str:
    """What is wrong in a YAML text, and where: "invalid YAML at line 5, column 8: ..."."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return f"invalid YAML: {exc}"
    mark = exc.problem_mark or exc.context_mark
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = exc.problem or exc.context or "invalid YAML"
    context = f" ({exc.context})" if exc.context and exc.problem else ""
    return f"invalid YAML{at}: {problem}{context}"


def _yaml_documents(text: str, *, source: str) -> list[tuple[str, Any]]:
    loader = yaml.SafeLoader(text)
    documents: list[tuple[str, Any]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # the stream ended
                break
            where = f"{source} document {len(documents) + 1} (line {node.start_mark.line + 1})"
            documents.append((where, loader.construct_document(node)))
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{source}: {yaml_problem(exc)}") from exc
    finally:
        loader.dispose()
    return documents


def _plain(value: Any, path: str = "") -> Any:
    """A JSON-safe deep copy: the API server takes JSON, and YAML also makes dates and odd keys."""
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise ConfigurationError(f"{path or 'the resource'}: key {key!r} is not a string: quote it")
        return {key: _plain(item, f"{path}.{key}" if path else key) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ConfigurationError(f"{path}: {value!r} is a {_type_name(value)}, which JSON cannot carry: quote it")


def identity_problem(resource: Mapping[str, Any]) -> str | None:
    for key, example in (("apiVersion", "'v1', 'batch/v1'"), ("kind", "'Pod', 'Job'")):
        if not isinstance(resource.get(key), str) or not resource[key].strip():
            return f"{key} is missing: every resource needs one (e.g. {example})"
    metadata = resource.get("metadata")
    if not isinstance(metadata, Mapping):
        return "metadata is missing: give the resource metadata.name"
    if not any(isinstance(metadata.get(k), str) and metadata[k] for k in ("name", "generateName")):
        return "metadata.name is missing: give the resource a name (or metadata.generateName)"
    return None


def _list_items(documents: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Documents with each ``kind: *List`` (``List``, ``PodList``) replaced by its items; an item
    without ``apiVersion`` or ``kind`` takes the list's."""
    flat: list[tuple[str, Any]] = []
    for where, document in documents:
        kind = document.get("kind") if isinstance(document, Mapping) else None
        items = document.get("items") if isinstance(document, Mapping) else None
        if not (isinstance(kind, str) and kind.endswith("List") and isinstance(items, list)):
            flat.append((where, document))
            continue
        item_kind = kind.removesuffix("List")
        for index, item in enumerate(items):
            if isinstance(item, Mapping):
                defaults = {"apiVersion": document.get("apiVersion"), "kind": item_kind} if item_kind else {}
                item = {**defaults, **item}
            flat.append((f"{where}.items[{index}]", item))
    return flat


def parse_body(
    body: str | Mapping[str, Any] | Sequence[Mapping[str, Any]], *, source: str = "body"
) -> list[dict[str, Any]]:
    """The resources in ``body``; empty YAML documents (and ``None`` items) are dropped.

    Every resource needs ``apiVersion``, ``kind`` and ``metadata.name`` (or ``generateName``); a
    ``kind: *List`` document stands for its items.
    Errors name ``source`` and where: a YAML line and column (1-based), or the document's number
    and first line, or the list index.
    """
    documents: list[tuple[str, Any]]
    if isinstance(body, str):
        documents = _yaml_documents(body, source=source)
    elif isinstance(body, Mapping):
        documents = [(source, body)]
    elif isinstance(body, Sequence) and not isinstance(body, (bytes, bytearray)):
        documents = [(f"{source}[{i}]", item) for i, item in enumerate(body)]
    else:
        raise ConfigurationError(
            f"{source} must be a YAML string, a dict or a list of dicts, not {_type_name(body)}"
        )
    resources: list[dict[str, Any]] = []
    for where, document in _list_items(documents):
        if document is None:
            continue
        if not isinstance(document, Mapping):
            raise ConfigurationError(
                f"{where} is a {_type_name(document)}, not a mapping: each document must be one "
                "Kubernetes resource (apiVersion, kind, metadata, ...)"
            )
        problem = identity_problem(document)
        if problem:
            raise ConfigurationError(f"{where}: {problem}")
        try:
            resources.append(_plain(document))
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where}: {exc}") from None
    if not resources:
        raise ConfigurationError(f"{source} holds no resources: give at least one")
    return resources


def load_body_file(path: str, *, base_dir: str | None, keyword: str = "body_filepath") -> str:
    """The text of ``path``: absolute, or relative to ``base_dir`` (the DAG's folder); errors name
    ``keyword``."""
    expanded = os.path.expanduser(path)
    if not os.path.isabs(expanded):
        if not base_dir:
            raise ConfigurationError(
                f"{keyword} {path!r} is relative and the DAG's folder is unknown: use an absolute path"
            )
        expanded = os.path.join(base_dir, expanded)
    resolved = os.path.abspath(expanded)
    try:
        with open(resolved, encoding="utf-8") as file:
            return file.read()
    except FileNotFoundError as exc:
        raise ConfigurationError(
            f"{keyword} {path!r}: no such file {resolved} (a relative path is read from the DAG's folder)"
        ) from exc
    except IsADirectoryError as exc:
        raise ConfigurationError(f"{keyword} {path!r}: {resolved} is a directory, not a file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{keyword} {path!r}: cannot read {resolved}: {exc}") from exc


# --- preparing -----------------------------------------------------------------------------------


def job_operator_defaults(resources: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The job-operator's defaults: Pods ``restartPolicy: Never``; Jobs ``backoffLimit: 0``, the
    ``foregroundDeletion`` finalizer and a template ``restartPolicy: Never``. Set values are kept."""
    prepared = [copy.deepcopy(dict(r)) for r in resources]
    for resource in prepared:
        key = (group_of(resource.get("apiVersion")), resource.get("kind"))
        spec = resource.get("spec")
        if key == ("", "Pod") and isinstance(spec, dict):
            spec.setdefault("restartPolicy", "Never")
        elif key == ("batch", "Job") and isinstance(spec, dict):
            spec.setdefault("backoffLimit", 0)
            resource.setdefault("metadata", {}).setdefault("finalizers", ["foregroundDeletion"])
            template_spec = as_map(spec.get("template")).get("spec")
            if isinstance(template_spec, dict):
                template_spec.setdefault("restartPolicy", "Never")
    return prepared


def builtin_namespaced(api_version: str, kind: str) -> bool:
    """Whether a kind is namespaced, from the built-in table; unknown kinds count as namespaced.
    Use the answer of ``discovery.resolve`` for custom kinds."""
    return (group_of(api_version), kind) not in CLUSTER_SCOPED_BUILTINS


def _label_objects(node: dict[str, Any], labels: Mapping[str, str]) -> None:
    # The job-operator's rule: every dict with a "spec" or "metadata" dict is an object or an
    # object template (Job spec.template, CronJob spec.jobTemplate and its template, ...).
    if isinstance(node.get("spec"), dict) or isinstance(node.get("metadata"), dict):
        metadata = node.setdefault("metadata", {})
        if isinstance(metadata, dict):
            metadata["labels"] = {**as_map(metadata.get("labels")), **labels}
    for value in node.values():
        if isinstance(value, dict):
            _label_objects(value, labels)


def own_resources(
    resources: Sequence[Mapping[str, Any]],
    *,
    labels: Mapping[str, str],
    namespace: str,
    namespaced: Callable[[str, str], bool],
) -> list[dict[str, Any]]:
    """``metadata.namespace`` for namespaced kinds that have none; ``labels`` on every resource and
    on every object template inside it, so the pods of a Job or Deployment carry them too.

    ``namespaced(api_version, kind)`` says whether a kind lives in a namespace: from discovery
    (``lambda v, k: resolved[v, k].namespaced``) or :func:`builtin_namespaced` when no cluster is at hand.
    """
    owned = [copy.deepcopy(dict(r)) for r in resources]
    for resource in owned:
        metadata = resource.setdefault("metadata", {})
        if namespaced(str(resource.get("apiVersion")), str(resource.get("kind"))):
            if not metadata.get("namespace"):
                metadata["namespace"] = namespace
        _label_objects(resource, labels)
    return owned


def _env_in_containers(node: dict[str, Any], env: dict[str, str]) -> None:
    spec = node.get("spec")
    if isinstance(spec, dict) and isinstance(spec.get("containers"), list):
        for container in spec["containers"]:
            if isinstance(container, dict):
                env_list = container.get("env")
                current: list[Any] = env_list if isinstance(env_list, list) else []
                if not any(isinstance(e, Mapping) and e.get("name") == env["name"] for e in current):
                    container["env"] = [dict(env), *current]
    for value in node.values():
        if isinstance(value, dict):
            _env_in_containers(value, env)


def inject_resources_env(
    resources: Sequence[Mapping[str, Any]], *, names: Sequence[str]
) -> list[dict[str, Any]]:
    """``KUBERNETES_JOB_OPERATOR_RESOURCES`` = the names joined by one space, first in the env of
    every container (not init containers) of the tracked (first) resource's pod specs, as the
    job-operator does; a container that already sets it keeps its own value."""
    injected = [copy.deepcopy(dict(r)) for r in resources]
    if injected:
        _env_in_containers(injected[0], {"name": RESOURCES_ENV, "value": " ".join(names)})
    return injected


# --- reading ------------------------------------------------------------------------------------


def pod_templates(resource: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(field, template) for the pod templates of workload kinds: Job, Deployment, CronJob, ..."""
    spec = as_map(resource.get("spec"))
    found = []
    if isinstance(spec.get("template"), Mapping):
        found.append(("spec.template", spec["template"]))
    job_template = as_map(as_map(spec.get("jobTemplate")).get("spec")).get("template")
    if isinstance(job_template, Mapping):
        found.append(("spec.jobTemplate.spec.template", job_template))
    return found


def main_container(pod_spec_or_pod: Mapping[str, Any]) -> str:
    """The container whose exit decides: the ``kubernetes_job_operator.main_container`` annotation,
    else "base", else the first. Takes a Pod, a pod template, a pod spec, or a workload (Job, ...)."""
    obj = pod_spec_or_pod
    if "containers" in obj:
        return main_container_name({"spec": obj})
    if "containers" not in as_map(obj.get("spec")):
        templates = pod_templates(obj)
        if templates:
            obj = templates[0][1]
    return main_container_name(obj)
