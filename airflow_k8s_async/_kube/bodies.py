"""Resource bodies as ``airflow-kubernetes-job-operator`` takes them: YAML, a dict, or a list of dicts.

Pure functions; each returns new dicts and never changes its input. The first resource is the one
the task waits on; the others are created with it (as the job-operator does).

parse_body             YAML (multi-document) / dict / list -> resources; errors name line and column
load_body_file         ``body_filepath`` -> text; a relative path is read from the DAG's folder
job_operator_defaults  the job-operator's per-kind defaults (restartPolicy Never, backoffLimit 0)
name_resources         prefix, name, postfix (random by default), cut to the kind's name limit
own_resources          namespace for namespaced kinds; labels on every resource and its pod templates
inject_resources_env   ``KUBERNETES_JOB_OPERATOR_RESOURCES`` on the tracked resource's containers
main_container         the container that decides a pod's outcome (annotation, "base", first)
validate_resources     what the API server would reject, every problem in one error
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml

from airflow_k8s_async._kube.mapping import as_list, as_map

from ..errors import ConfigurationError
from .podcheck import DNS_LABEL, DNS_SUBDOMAIN, check_metadata, validate_pod
from .podnames import random_token
from .states import main_container_name

RESOURCES_ENV = "KUBERNETES_JOB_OPERATOR_RESOURCES"
# The label the job-operator puts on everything it creates (value: a uuid per run).
RUNNER_INSTANCE_LABEL = "kubernetes-job-runner-instance-id"
# The job-operator's ``[kubernetes_job_operator] max_job_name_length``: the name prefix's limit.
NAME_PREFIX_MAX_LENGTH = 50
DEFAULT_NAME_LIMIT = 253
# Names that end up in a label value or a hostname (63), or get a suffix from a controller (52).
_NAME_LIMITS = {
    ("", "Pod"): 63,
    ("", "Service"): 63,
    ("", "Namespace"): 63,
    ("batch", "Job"): 63,
    ("batch", "CronJob"): 52,
    ("apps", "StatefulSet"): 52,
}
_DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
# (group, kind) -> (pattern, max length, what the name must be); the API server's own rules.
_NAME_RULES: dict[tuple[str, str], tuple[re.Pattern[str], int, str]] = {
    ("", "Service"): (_DNS_1035, 63, "at most 63 lowercase letters, digits and '-', starting with a letter"),
    ("", "Namespace"): (DNS_LABEL, 63, "at most 63 lowercase letters, digits and '-'"),
    ("batch", "Job"): (DNS_SUBDOMAIN, 63, "at most 63 lowercase letters, digits, '-' and '.' (a label)"),
    ("batch", "CronJob"): (DNS_SUBDOMAIN, 52, "at most 52 lowercase letters, digits, '-' and '.'"),
}
_SUBDOMAIN_NAMED = frozenset(
    {
        ("", "ConfigMap"),
        ("", "Secret"),
        ("", "PersistentVolumeClaim"),
        ("", "ServiceAccount"),
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("apps", "ReplicaSet"),
    }
)
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
# Kinds whose pod templates are validated as pods, by (group, kind).
_WORKLOADS = frozenset(
    {
        ("batch", "Job"),
        ("batch", "CronJob"),
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("apps", "ReplicaSet"),
        ("", "ReplicationController"),
    }
)


def _group(api_version: Any) -> str:
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


def _identity_problem(resource: Mapping[str, Any]) -> str | None:
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
        problem = _identity_problem(document)
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
        key = (_group(resource.get("apiVersion")), resource.get("kind"))
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


def name_limit(*, api_version: str, kind: str) -> int:
    """The longest name that works for this kind (not only the longest the API server takes)."""
    return _NAME_LIMITS.get((_group(api_version), kind), DEFAULT_NAME_LIMIT)


def name_prefix_from(name: str, *, max_length: int = NAME_PREFIX_MAX_LENGTH) -> str:
    """The job-operator's ``to_kubernetes_valid_name``: lowercased, each char outside [a-z0-9] -> "-";
    when longer than ``max_length``: the first 10 chars, "--", and the last ``max_length - 12``.
    Ours also strips "-" from both ends, which the job-operator leaves (and the server rejects)."""
    slug = re.sub(r"[^a-z0-9]", "-", name.lower())
    if len(slug) > max_length:
        tail = max_length - 12
        slug = slug[:10] + "--" + slug[-tail:] if tail > 0 else slug[:max_length]
    return slug.strip("-")


def _fit(head: str, postfix: str, *, limit: int) -> str:
    if not postfix:
        return head[:limit].rstrip("-.")
    room = limit - len(postfix) - 1
    cut = head[: max(room, 0)].rstrip("-.")
    return f"{cut}-{postfix}" if cut else postfix[:limit]


def _rename_pod_refs(node: dict[str, Any], renamed: Mapping[tuple[str, str], str]) -> None:
    """Point a pod spec's references to ConfigMaps, Secrets, PVCs and ServiceAccounts of the same
    body at their new names; then the same for every pod spec nested in ``node`` (templates)."""

    def swap(holder: Any, key: str, kind: str) -> None:
        if isinstance(holder, dict) and isinstance(holder.get(key), str):
            holder[key] = renamed.get((kind, holder[key]), holder[key])

    if isinstance(node.get("containers"), list):
        swap(node, "serviceAccountName", "ServiceAccount")
        swap(node, "serviceAccount", "ServiceAccount")
        for ref in as_list(node.get("imagePullSecrets")):
            swap(ref, "name", "Secret")
        for volume in as_list(node.get("volumes")):
            swap(volume.get("configMap"), "name", "ConfigMap")
            swap(volume.get("secret"), "secretName", "Secret")
            swap(volume.get("persistentVolumeClaim"), "claimName", "PersistentVolumeClaim")
            for source in as_list(as_map(volume.get("projected")).get("sources")):
                swap(source.get("configMap"), "name", "ConfigMap")
                swap(source.get("secret"), "name", "Secret")
        for container in [*as_list(node.get("initContainers")), *as_list(node["containers"])]:
            for env in as_list(container.get("env")):
                swap(as_map(env.get("valueFrom")).get("configMapKeyRef"), "name", "ConfigMap")
                swap(as_map(env.get("valueFrom")).get("secretKeyRef"), "name", "Secret")
            for env_from in as_list(container.get("envFrom")):
                swap(env_from.get("configMapRef"), "name", "ConfigMap")
                swap(env_from.get("secretRef"), "name", "Secret")
    for value in node.values():
        if isinstance(value, dict):
            _rename_pod_refs(value, renamed)


def name_resources(
    resources: Sequence[Mapping[str, Any]],
    *,
    name_prefix: str | None,
    name_postfix: str | None,
    random_postfix_length: int,
    prefix_max_length: int = NAME_PREFIX_MAX_LENGTH,
    rename_references: bool = True,
) -> list[dict[str, Any]]:
    """Every resource renamed ``{prefix}-{name}-{postfix}`` (empty parts left out), as the job-operator.

    - ``name_prefix`` goes through :func:`name_prefix_from` (the operator passes the task id when
      the user gave none, as the job-operator).
    - The postfix is one random string of ``random_postfix_length`` [a-z0-9], shared by every
      resource; ``name_postfix`` is used only when ``random_postfix_length <= 0`` (the
      job-operator's precedence: a random postfix replaces it).
    - A ``generateName`` (without its trailing "-") stands in for a missing name and is removed, so
      every name is known before anything is created.
    - A name longer than its kind allows (:func:`name_limit`) is cut before the postfix, which is
      kept whole; the job-operator does not cut, so such a body failed there.
    Labels and selectors are not touched, so a Service still selects the Pods of the same body (as
    in the job-operator). With ``rename_references`` (ours; the job-operator leaves them, so such a
    pod could not start), pod specs' references to a ConfigMap, Secret, PersistentVolumeClaim or
    ServiceAccount of the same body follow its new name; references to anything else are kept.
    """
    prefix = name_prefix_from(name_prefix, max_length=prefix_max_length) if name_prefix else ""
    if random_postfix_length > 0:
        postfix = random_token(random_postfix_length)
    else:
        postfix = re.sub(r"[^a-z0-9.-]", "-", (name_postfix or "").lower()).strip("-.")
    named = [copy.deepcopy(dict(r)) for r in resources]
    renamed: dict[tuple[str, str], str] = {}
    for index, resource in enumerate(named):
        metadata = resource.setdefault("metadata", {})
        generate = str(metadata.pop("generateName", "") or "").rstrip("-")
        base = str(metadata.get("name") or generate)
        head = "-".join(part for part in (prefix, base) if part)
        limit = name_limit(api_version=str(resource.get("apiVersion")), kind=str(resource.get("kind")))
        name = _fit(head, postfix, limit=limit)
        if not name:
            raise ConfigurationError(f"resources[{index}] ({resource.get('kind')}): no name to give it")
        if metadata.get("name") and name != metadata["name"] and not _group(resource.get("apiVersion")):
            renamed[(str(resource.get("kind")), str(metadata["name"]))] = name
        metadata["name"] = name
    if rename_references and renamed:
        for resource in named:
            _rename_pod_refs(resource, renamed)
    return named


def resource_names(resources: Sequence[Mapping[str, Any]]) -> list[str]:
    """The resources' names, in order (the value of ``KUBERNETES_JOB_OPERATOR_RESOURCES``)."""
    names = (as_map(r.get("metadata")).get("name") for r in resources)
    return [str(name) for name in names if name]


def builtin_namespaced(api_version: str, kind: str) -> bool:
    """Whether a kind is namespaced, from the built-in table; unknown kinds count as namespaced.
    Use the answer of ``discovery.resolve`` for custom kinds."""
    return (_group(api_version), kind) not in CLUSTER_SCOPED_BUILTINS


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


def _pod_templates(resource: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
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
        templates = _pod_templates(obj)
        if templates:
            obj = templates[0][1]
    return main_container_name(obj)


def _pod_problems(pod: Mapping[str, Any]) -> list[str]:
    try:
        validate_pod(pod)
    except ConfigurationError as exc:
        return str(exc).removeprefix("invalid pod: ").split("; ")
    return []


def _name_problem(group: str, kind: str, name: Any) -> str | None:
    if not isinstance(name, str) or not name:
        return "metadata.name is empty: give the resource a name"
    rule = _NAME_RULES.get((group, kind))
    if rule is None and (group, kind) in _SUBDOMAIN_NAMED:
        rule = (DNS_SUBDOMAIN, 253, "at most 253 lowercase letters, digits, '-' and '.'")
    if rule is not None:
        pattern, limit, what = rule
        if len(name) > limit or not pattern.fullmatch(name):
            return f"metadata.name {name!r} is not a valid {kind} name: use {what}, alphanumeric at both ends"
    elif len(name) > 253 or "/" in name or "%" in name or name in (".", ".."):
        return f"metadata.name {name!r} is invalid: use at most 253 characters, without '/' or '%'"
    return None


def _resource_problems(resource: Mapping[str, Any]) -> list[str]:
    problem = _identity_problem(resource)
    if problem:
        return [problem]
    group, kind = _group(resource["apiVersion"]), str(resource["kind"])
    metadata = as_map(resource.get("metadata"))
    # A missing namespace is fine here (own_resources sets it), and so is a generateName alone
    # (name_resources turns it into a name).
    placeholder_ns = {"namespace": metadata.get("namespace") or "default"}
    named = bool(metadata.get("name"))
    if (group, kind) == ("", "Pod"):
        pod_metadata = {**metadata, **placeholder_ns, **({} if named else {"name": "placeholder"})}
        return _pod_problems({**resource, "metadata": pod_metadata})
    problems: list[str] = []
    name_problem = _name_problem(group, kind, metadata.get("name")) if named else None
    if name_problem:
        problems.append(name_problem)
    check_metadata({**metadata, "name": "placeholder", **placeholder_ns}, problems)
    for field, template in _pod_templates(resource) if (group, kind) in _WORKLOADS else []:
        template_metadata = {**as_map(template.get("metadata")), "name": "placeholder", **placeholder_ns}
        for text in _pod_problems({**template, "metadata": template_metadata}):
            problems.append(f"{field}.{text}" if text.startswith(("spec.", "metadata.")) else text)
    return problems


def validate_resources(resources: Sequence[Mapping[str, Any]]) -> None:
    """Raise one ConfigurationError listing every problem the API server would reject, each named
    ``resources[i] (Kind/name): field ...``: names, labels, annotations; Pods and the pod templates
    of Jobs, CronJobs and other workloads as :func:`podcheck.validate_pod` checks pods."""
    problems: list[str] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    for index, resource in enumerate(resources):
        metadata = as_map(resource.get("metadata"))
        kind, name = resource.get("kind"), metadata.get("name") or metadata.get("generateName")
        where = f"resources[{index}] ({kind}/{name})"
        problems.extend(f"{where}: {text}" for text in _resource_problems(resource))
        if metadata.get("name"):
            key = (_group(resource.get("apiVersion")), str(kind), str(metadata.get("namespace")), str(name))
            if key in seen:
                problems.append(f"{where}: the same {kind} as resources[{seen[key]}]: give it another name")
            seen.setdefault(key, index)
    if problems:
        raise ConfigurationError("invalid resources: " + "; ".join(problems))
