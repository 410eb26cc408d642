"""``start_from_trigger`` for the Job operators: the operator's own code, run in the triggerer.

At parse time the operator hands over the keywords it was built with (JSON-safe, checked, naming
the one that is not) and the contents of the files it reads (a triggerer may not have the DAG
folder). In the triggerer, :class:`KubernetesJobStartTrigger` builds the operator again from them,
renders its template fields with the task's context as a worker would, builds the resources with
the operator's code and creates them under names derived from the task instance and try: the same
start run again (a triggerer restart, a hand-over) finds what it created instead of creating more.
Then it waits inside itself as the trigger the operator would have deferred to (Job, pod or
resource trigger), and ends the task as that trigger does.

It lives with the operators because it runs their code; the triggerer imports it by its class path.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
from collections.abc import Mapping
from typing import Any

from airflow.sdk import BaseOperator
from airflow.triggers.base import StartTriggerArgs

from airflow_k8s_async._kube import bodies
from airflow_k8s_async._kube.k8s_objects import Secret, to_api_dict
from airflow_k8s_async._kube.podnames import stable_suffixes
from airflow_k8s_async._kube.podspec import load_template_file
from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.hooks.kubernetes import DEFAULT_CONN_ID
from airflow_k8s_async.operators.shared import check_start_from_trigger, static_path
from airflow_k8s_async.triggers.common import KubeTrigger, keep_running, shared_target
from airflow_k8s_async.triggers.finish import default_xcom_parser
from airflow_k8s_async.triggers.podstart import secret_to_dict, template_env

__all__ = ["KubernetesJobStartTrigger", "start_trigger_args", "written_keywords"]

# BaseOperator's own keywords shape the task, not its resources (execution_timeout travels apart).
_TASK_KEYWORDS = frozenset(inspect.signature(BaseOperator.__init__).parameters) | {"start_from_trigger"}
# Files the operators read while building: read at parse time, their contents travel.
_FILE_KEYWORDS = ("body_filepath", "job_template_file", "pod_template_file")
# A kill while the resources are being created waits for the creation, then deletes them.
CREATE_WAIT_SECONDS = 60.0


def written_keywords(init: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """The keywords a DAG gave an operator: ``values`` is its ``__init__``'s ``locals()`` on entry
    (Airflow's own record of them is complete only after ``__init__``); defaults are left out."""
    params = inspect.signature(init).parameters
    given = {
        name: value
        for name, value in values.items()
        if name in params
        and params[name].kind is inspect.Parameter.KEYWORD_ONLY
        and not (value is params[name].default or _same(value, params[name].default))
    }
    return {**given, **values.get("kwargs", {})}


def _same(value: Any, default: Any) -> bool:
    try:
        return bool(value == default)
    except Exception:  # a value whose == is not a bool (e.g. an array)
        return False


def _portable(name: str, value: Any) -> Any:
    """``value`` as it can be stored with the trigger (client models as API dicts), else refused."""
    if name == "secrets":
        return [secret_to_dict(secret) for secret in value or []]
    if callable(value):
        raise ConfigurationError(f"start_from_trigger: {name} is a callable, which only a worker can run")
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        pass
    try:
        converted = to_api_dict(value, where=name)
        json.dumps(converted)
    except (ConfigurationError, TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"start_from_trigger: {name} cannot be stored with the trigger ({exc}): "
            "give plain values (dicts, lists, strings, numbers)"
        ) from exc
    return converted


def start_trigger_args(task: Any) -> StartTriggerArgs:
    """The trigger that starts ``task`` (a Job operator) in the triggerer, fixed at parse time."""
    check_start_from_trigger(task)
    if not task.wait_until_job_complete:
        raise ConfigurationError(
            "start_from_trigger: wait_until_job_complete=False has nothing to wait for; "
            "run this task the default way"
        )
    for name, custom in (
        ("on_kube_api_event", task.on_kube_api_event is not None),
        ("parse_xcom_event", task.parse_xcom_event is not default_xcom_parser),
    ):
        if custom:
            raise ConfigurationError(f"start_from_trigger: {name} is a callable, which only a worker can run")
    given: dict[str, Any] = task._written_keywords
    skipped = _TASK_KEYWORDS | {"on_kube_api_event", "parse_xcom_event"}  # checked above
    keywords = {name: _portable(name, value) for name, value in given.items() if name not in skipped}
    files: dict[str, Any] = {}
    for keyword in _FILE_KEYWORDS:
        if path := keywords.get(keyword):
            path = static_path(keyword, path)
            if keyword == "body_filepath":  # text: Jinja renders it in the triggerer, as on a worker
                files[keyword] = bodies.load_body_file(path, base_dir=task._dag_folder())
            else:
                files[keyword] = load_template_file(path, base_dir=task._dag_folder(), keyword=keyword)
    timeout = task.execution_timeout.total_seconds() if task.execution_timeout is not None else None
    cls = type(task)
    submit = {
        "operator": f"{cls.__module__}.{cls.__qualname__}",
        "keywords": keywords,
        "files": files,
        "execution_timeout": timeout,
    }
    trigger = KubernetesJobStartTrigger(
        submit=submit,
        finish=task._finish_plan(try_number=None),
        kubernetes_conn_id=task.kubernetes_conn_id,
        config_file=task.config_file,
        cluster_context=task.cluster_context,
        in_cluster=task.in_cluster,
    )
    classpath, kwargs = trigger.serialize()
    return StartTriggerArgs(trigger_cls=classpath, trigger_kwargs=kwargs, next_method="execute_complete")


def build_task(submit: dict[str, Any], *, task_id: str, log: Any) -> Any:
    """The operator of ``submit``, built again from its keywords (outside any DAG)."""
    module, _, name = str(submit["operator"]).rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, BaseOperator) and hasattr(cls, "build_resources")):
        raise ConfigurationError(f"start_from_trigger: {submit['operator']} is not a Job operator")
    keywords = dict(submit["keywords"])
    if "secrets" in keywords:
        keywords["secrets"] = [Secret(**secret) for secret in keywords["secrets"] or []]
    files = dict(submit.get("files") or {})
    if "pod_template_file" in files:  # its content wins over pod_template_dict, as the file would
        keywords["pod_template_file"] = None
        keywords["pod_template_dict"] = files.pop("pod_template_file")
    task = cls(**{**keywords, "task_id": task_id, "start_from_trigger": False})
    task._parse_time_files = files
    task._log = log  # its lines go where the trigger's go: the task log
    return task


class KubernetesJobStartTrigger(KubeTrigger):
    """Build and create a Job operator's resources in the triggerer, then wait for the first.

    Kwargs: the connection (never credentials), the finish plan, and ``submit``: the operator's
    class path, its keywords as written in the DAG (unrendered), the files it reads, and
    ``execution_timeout`` (counted from the first resource's creation, so a restart keeps it).
    """

    def __init__(
        self,
        *,
        submit: dict[str, Any],
        kubernetes_conn_id: str | None = DEFAULT_CONN_ID,
        config_file: str | None = None,
        cluster_context: str | None = None,
        in_cluster: bool | None = None,
        finish: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            kubernetes_conn_id=kubernetes_conn_id,
            config_file=config_file,
            cluster_context=cluster_context,
            in_cluster=in_cluster,
            finish=finish,
        )
        self.submit = submit
        self._task: Any = None  # the operator, built again and rendered here
        self._context: Any = None
        self._render_error: str | None = None
        self._creation: asyncio.Task[KubeTrigger] | None = None
        self._waiting: KubeTrigger | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return self._classpath(), {**self._connection_kwargs(), "finish": self.finish, "submit": self.submit}

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Build the operator and render its template fields as a worker would (the triggerer calls
        this before ``run()``); an error fails the task with it."""
        ti = self.task_instance
        try:
            task = build_task(self.submit, task_id=str(getattr(ti, "task_id", "")), log=self.log)
            dag = getattr(self.task, "dag", None)
            task.render_template_fields(context, jinja_env=jinja_env or template_env(dag))
        except Exception as exc:  # the task fails with the reason instead of a triggerer traceback
            self._render_error = f"building the task in the triggerer failed: {type(exc).__name__}: {exc}"
            return
        self._task, self._context = task, context
        for key in self._connection_kwargs():  # config_file, cluster_context are template fields
            setattr(self, key, getattr(task, key))

    async def wait(self) -> dict[str, Any]:
        if self._render_error:
            raise ConfigurationError(self._render_error)
        if self._task is None or self.task_instance is None:
            raise ConfigurationError(
                "start_from_trigger: the triggerer gave this trigger no task context to build the task with"
            )
        if self._creation is None:  # its own task: a cancelled wait does not cut a create in half
            self._creation = keep_running(asyncio.ensure_future(self._create()))
        self._waiting = await asyncio.shield(self._creation)
        return await self._waiting.wait()

    async def _create(self) -> KubeTrigger:
        task, context, ti = self._task, self._context, self.task_instance
        assert ti is not None
        target = await shared_target(**self._connection_kwargs())
        with stable_suffixes(ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number):
            resources = task.build_resources(context, target=target)
        namespace = task.namespace or target.namespace or "default"
        task._created = await task._create_all(target, resources, namespace, context, adopt=True)
        first = task._created[0]
        if first["kind"] == "Job":  # as the operator pushes them on a worker
            await self._push_xcoms({"job_name": first["name"], "job_namespace": first["namespace"]})
        timeout = self.submit.get("execution_timeout")
        deadline = None
        if timeout is not None and task._first_created_at is not None:
            deadline = task._first_created_at + float(timeout)
        waiting: KubeTrigger = task._resource_trigger(context, finish=self.finish, deadline=deadline)
        return waiting

    # -- as the waiting trigger ---------------------------------------------------------------
    def _event(self, status: str, *, reason: str = "", message: str = "") -> dict[str, Any]:
        if self._waiting is not None:
            return self._waiting._event(status, reason=reason, message=message)
        return {"status": status, "reason": reason, "message": message}

    def _keeps_on_kill(self) -> bool:
        if self._waiting is not None:
            return self._waiting._keeps_on_kill()
        return self._task is not None and not self._task.delete_on_kill

    async def _kill(self) -> None:
        """Delete what this start created (the waiting trigger's kill), once the create is done."""
        if not await self._claim_kill():
            return
        if self._creation is None:
            return
        done, _ = await asyncio.wait({self._creation}, timeout=CREATE_WAIT_SECONDS)
        if not done:
            self.log.warning(
                "Task killed while its resources were still being created after %gs: not deleting them",
                CREATE_WAIT_SECONDS,
            )
            return
        if self._creation.cancelled() or self._creation.exception() is not None:
            return  # a failed create deleted what it had made (see _create_all)
        # The waiting trigger has no task instance: it acts on the claim made here.
        await self._creation.result()._kill()
