"""``start_from_trigger`` for pods: what the operator hands the triggerer when the DAG is parsed, and
how the trigger renders it, builds the pod and creates it once.

The operator's pod keywords travel unrendered and JSON-safe (checked at parse time, naming the
keyword that is not); the triggerer renders exactly the operator's template fields with the task's
context, builds the pod with the same ``build_pod`` a worker uses, and creates it under a name
derived from the task instance and try, so a second run of the same submission (a triggerer
restart, a reassignment) finds the first pod instead of creating another.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from types import SimpleNamespace
from typing import Any

from airflow.version import version as airflow_version

from airflow_k8s_async._kube.client import KubeClient
from airflow_k8s_async._kube.k8s_objects import Secret, to_api_dict
from airflow_k8s_async._kube.podspec import PodKeywords, build_pod, validate_pod, with_defaults
from airflow_k8s_async._kube.podsubmit import create_or_adopt, identity_labels, ownership_labels, stable_name
from airflow_k8s_async._kube.tasklog import TaskLog
from airflow_k8s_async.errors import ConfigurationError

__all__ = ["render_submission", "secret_to_dict", "start_pod", "submission", "template_env", "this_try"]

_POD_FIELDS = frozenset(f.name for f in fields(PodKeywords))


def secret_to_dict(secret: Any) -> dict[str, Any]:
    return {
        "deploy_type": secret.deploy_type,
        "deploy_target": secret.deploy_target,
        "secret": secret.secret,
        "key": secret.key,
        "items": [to_api_dict(item, where="secret items") for item in secret.items or []],
    }


def submission(
    *,
    keywords: Mapping[str, Any],
    templated: Sequence[str],
    reattach_on_restart: bool,
    execution_timeout: float | None,
    template: Any = None,
) -> dict[str, Any]:
    """The ``submit`` kwarg of the pod trigger; a keyword whose value cannot travel is refused by name.

    ``template``: ``pod_template_file``'s content, read at parse time (never rendered, as on a worker).
    """
    values = {k: v for k, v in keywords.items() if k in _POD_FIELDS}
    values["secrets"] = [secret_to_dict(s) for s in values.get("secrets") or []]
    for name, value in values.items():
        if callable(value):
            raise ConfigurationError(f"start_from_trigger: {name} is a callable, which only a worker can run")
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"start_from_trigger: {name} cannot be stored with the trigger ({exc}): "
                "give plain values (dicts, lists, strings, numbers)"
            ) from exc
    return {
        "keywords": values,
        "template": template,
        "templated": list(templated),
        "reattach_on_restart": reattach_on_restart,
        "execution_timeout": execution_timeout,
    }


def this_try(ti: Any) -> tuple[Any, ...]:
    """What names a task instance's try in every process: what a start derives its names from."""
    return (ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number)


def template_env(dag: Any) -> Any:
    """The environment a worker renders with, for a DAG without its own macros, filters or Jinja
    options (the operator refuses those at parse time: the triggerer has only the serialized DAG)."""
    from airflow.sdk.definitions._internal.templater import create_template_env

    folder = getattr(dag, "folder", None)
    return create_template_env(searchpath=[folder] if folder else None)


def render_submission(
    templater: Any,
    submit: Mapping[str, Any],
    connection: Mapping[str, Any],
    *,
    context: Any,
    jinja_env: Any = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``submit`` and the connection keywords with the operator's template fields rendered by
    ``templater`` (the trigger: Airflow's own rendering, with the task's DAG environment)."""
    keywords = dict(submit["keywords"])
    values = SimpleNamespace(**{**keywords, **connection})
    names = [name for name in submit.get("templated") or () if hasattr(values, name)]
    env = jinja_env or template_env(getattr(getattr(templater, "task", None), "dag", None))
    templater._do_render_template_fields(values, names, context, env, set())
    rendered = vars(values)
    return (
        {**submit, "keywords": {k: rendered[k] for k in keywords}},
        {k: rendered[k] for k in connection},
    )


async def start_pod(
    client: KubeClient,
    submit: Mapping[str, Any],
    *,
    ti: Any,
    namespace: str,
    defaults: Mapping[str, Any],
    log: TaskLog,
) -> dict[str, Any]:
    """Build the pod of this task instance's try (validated), with the connection's ``defaults``
    where the task set no keyword, and create it, or adopt it."""
    values = dict(submit["keywords"])
    values["secrets"] = [Secret(**s) for s in values.get("secrets") or []]
    if submit.get("template") is not None:  # pod_template_file's content: it wins over the dict
        values["pod_template_dict"] = submit["template"]
    keywords = with_defaults(PodKeywords(**values), defaults)
    pod = build_pod(
        keywords=replace(keywords, random_name_suffix=False),
        namespace=namespace,
        labels=ownership_labels(
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=ti.map_index,
            try_number=ti.try_number,
            airflow_version=airflow_version,
        ),
        task_id=ti.task_id,
    )
    if keywords.random_name_suffix:
        meta = pod["metadata"]
        meta["name"] = stable_name(meta["name"], *this_try(ti))
    validate_pod(pod)
    identity = identity_labels(dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, map_index=ti.map_index)
    return await create_or_adopt(
        client, pod, identity=identity, reattach=bool(submit.get("reattach_on_restart", True)), log=log
    )
