"""``start_from_trigger`` for the Job operators (``operators/starting.py`` for the mechanism).

The files an operator reads while building (``body_filepath``, ``job_template_file``,
``pod_template_file``) are read at parse time and travel as contents: a triggerer may not have
the DAG folder. In the triggerer the resources are built by the operator's code under names derived
from the task instance and try, and created in order; an object of such a name that carries this
try's labels is the same start run again, and is taken instead of created.
"""

from __future__ import annotations

from typing import Any

from airflow.triggers.base import StartTriggerArgs

from airflow_k8s_async._kube import bodies
from airflow_k8s_async._kube.podnames import stable_suffixes
from airflow_k8s_async._kube.podspec import load_template_file
from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.operators.shared import check_start_from_trigger, static_path
from airflow_k8s_async.operators.starting import (
    OperatorStartTrigger,
    deadline_after,
    given_keywords,
    start_args,
)
from airflow_k8s_async.triggers.common import KubeTrigger, shared_target
from airflow_k8s_async.triggers.podstart import this_try

__all__ = ["KubernetesJobStartTrigger", "start_trigger_args"]

_FILE_KEYWORDS = ("body_filepath", "job_template_file", "pod_template_file")
_WORKER_CALLABLES = frozenset({"on_kube_api_event", "parse_xcom_event"})  # refused unless default


def start_trigger_args(task: Any) -> StartTriggerArgs:
    """The trigger that starts ``task`` (a Job operator) in the triggerer, fixed at parse time."""
    check_start_from_trigger(task)
    if not task.wait_until_job_complete:
        raise ConfigurationError(
            "start_from_trigger: wait_until_job_complete=False has nothing to wait for; "
            "run this task the default way"
        )
    for name in task._worker_callables():
        raise ConfigurationError(f"start_from_trigger: {name} is a callable, which only a worker can run")
    keywords = given_keywords(task)
    files: dict[str, Any] = {}
    for keyword in _FILE_KEYWORDS:
        if path := keywords.get(keyword):
            path = static_path(keyword, path)
            if keyword == "body_filepath":  # text: Jinja renders it in the triggerer, as on a worker
                files[keyword] = bodies.load_body_file(path, base_dir=task._dag_folder())
            else:  # YAML, never rendered (as on a worker)
                files[keyword] = load_template_file(path, base_dir=task._dag_folder(), keyword=keyword)
    return start_args(task, KubernetesJobStartTrigger, keywords=keywords, skip=_WORKER_CALLABLES, files=files)


class KubernetesJobStartTrigger(OperatorStartTrigger):
    """Build and create a Job operator's resources in the triggerer, then wait for the first.

    ``submit``: the operator's class path, its keywords as written in the DAG (unrendered), the
    files it reads (``files``), and ``execution_timeout`` (counted from the first resource's
    creation, so a restart keeps it).
    """

    def _prepared(self, task: Any) -> Any:
        task._parse_time_files = dict(self.submit.get("files") or {})
        return task

    async def _create(self) -> KubeTrigger:
        task, context, ti = self._task, self._context, self.task_instance
        assert ti is not None
        target = await shared_target(**self._connection_kwargs())
        with stable_suffixes(*this_try(ti)):
            resources = task.build_resources(context, target=target)
        run = task._new_run(target)
        await task._create(run, resources, context, adopt=True)
        first = run.created[0]
        if first["kind"] == "Job":  # as the operator pushes them on a worker
            await self._push_start_xcoms({"job_name": first["name"], "job_namespace": first["namespace"]})
        deadline = deadline_after(run.first_created_at, self.submit)
        waiting: KubeTrigger = task._run_trigger(run, context, finish=self.finish, deadline=deadline)
        return waiting
