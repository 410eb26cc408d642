"""``start_from_trigger`` for the pod operator (``operators/starting.py`` for the mechanism): the
pod keywords as the DAG gave them and ``pod_template_file`` read at parse time (a triggerer may not
have the DAG folder) become the pod trigger's ``submit`` (``triggers/podstart.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.triggers.base import StartTriggerArgs

from airflow_k8s_async._kube.podspec import load_template_file
from airflow_k8s_async.operators.shared import check_start_from_trigger, static_path
from airflow_k8s_async.triggers.podstart import submission

if TYPE_CHECKING:
    from airflow_k8s_async.operators.pod import KubernetesPodOperator

__all__ = ["start_trigger_args"]


def start_trigger_args(task: KubernetesPodOperator) -> StartTriggerArgs:
    """The trigger that creates ``task``'s pod and waits, fixed at parse time. What cannot work
    without a worker is refused here, naming the keyword."""
    check_start_from_trigger(task)
    keywords = dict(vars(task.pod_keywords()))
    template, path = None, keywords["pod_template_file"]
    if path:
        path = static_path("pod_template_file", path)
        template = load_template_file(str(path), base_dir=task._dag_folder())  # read at parse time
        keywords["pod_template_file"] = None
    timeout = task.execution_timeout.total_seconds() if task.execution_timeout is not None else None
    submit = submission(
        keywords=keywords,
        templated=task.template_fields,
        reattach_on_restart=task.reattach_on_restart,
        execution_timeout=timeout,
        template=template,
    )
    trigger = task._pod_trigger(submit=submit, finish=task._finish_plan(try_number=None))
    classpath, kwargs = trigger.serialize()
    return StartTriggerArgs(trigger_cls=classpath, trigger_kwargs=kwargs, next_method="execute_complete")
