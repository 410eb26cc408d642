"""``start_from_trigger`` by the operator's own code: what the Job and Armada operators share.

At parse time the operator hands over the keywords the DAG gave it (JSON-safe, checked, naming the
one that is not). In the triggerer an :class:`OperatorStartTrigger` builds the operator again from
them, renders its template fields with the task's context as a worker would, lets the operator's
code create what the task runs (``_create``, idempotent: the same start may run twice, after a
triggerer restart or a hand-over), and then waits inside itself as the trigger the operator would
have deferred to, ending the task as that trigger does.

It lives with the operators because it runs their code; the triggerer imports it by class path.
(Pods start through ``triggers/podstart.py``, which builds the pod without the operator.)
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow.sdk import BaseOperator
from airflow.triggers.base import StartTriggerArgs

from airflow_k8s_async._kube.k8s_objects import Secret, to_api_dict
from airflow_k8s_async._kube.tasklog import TaskLog
from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.operators.shared import custom_xcom_backend
from airflow_k8s_async.triggers.asynctasks import keep_running, once_created
from airflow_k8s_async.triggers.common import KubeTrigger
from airflow_k8s_async.triggers.events import Event, Status
from airflow_k8s_async.triggers.execution_api import push_xcoms
from airflow_k8s_async.triggers.finish import FinishPlan, Outcome
from airflow_k8s_async.triggers.podstart import secret_to_dict, template_env

__all__ = [
    "OperatorStartTrigger",
    "deadline_after",
    "given_keywords",
    "operator_from",
    "start_args",
    "written_keywords",
]

# BaseOperator's own keywords shape the task, not what it creates (execution_timeout travels apart).
TASK_KEYWORDS = frozenset(inspect.signature(BaseOperator.__init__).parameters) | {"start_from_trigger"}
_NAMED = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def written_keywords(init: Callable[..., Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The keywords a DAG gave an operator: ``values`` is its ``__init__``'s ``locals()`` on entry
    (Airflow's own record of them is complete only after ``__init__``); defaults are left out."""
    params = inspect.signature(init).parameters
    given = {
        name: value
        for name, value in values.items()
        if name in params
        and params[name].kind in _NAMED
        and name != "self"
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


def given_keywords(task: Any) -> dict[str, Any]:
    """What the DAG gave the operator: its own ``__init__``'s keywords (``_written_keywords``), over
    those its base classes received (with ``default_args`` applied to their parameters)."""
    return {**getattr(task, "_BaseOperator__init_kwargs", {}), **task._written_keywords}


def start_args(
    task: Any,
    trigger_cls: type[OperatorStartTrigger],
    *,
    keywords: Mapping[str, Any],
    skip: frozenset[str] = frozenset(),
    **submit: Any,
) -> StartTriggerArgs:
    """The ``StartTriggerArgs`` of ``task``: a ``trigger_cls`` carrying the operator's class path,
    its own keywords of ``keywords`` (not BaseOperator's, not ``skip``; JSON-safe or refused by
    name), ``execution_timeout`` in seconds and ``submit``'s other entries."""
    if backend := custom_xcom_backend():
        raise ConfigurationError(
            f"start_from_trigger: XComs go through the custom backend {backend}, which the triggerer "
            "does not use: run this task the default way"
        )
    cls = type(task)
    timeout = task.execution_timeout.total_seconds() if task.execution_timeout is not None else None
    trigger = trigger_cls(
        submit={
            "operator": f"{cls.__module__}.{cls.__qualname__}",
            "keywords": {k: _portable(k, v) for k, v in keywords.items() if k not in TASK_KEYWORDS | skip},
            "execution_timeout": timeout,
            **submit,
        },
        finish=task._finish_plan(try_number=None),
        **task._connection_kwargs(),
    )
    classpath, kwargs = trigger.serialize()
    return StartTriggerArgs(trigger_cls=classpath, trigger_kwargs=kwargs, next_method="execute_complete")


def deadline_after(start: float | None, submit: Mapping[str, Any]) -> float | None:
    """``execution_timeout`` counted from ``start`` (a creation or submission time), if both are set."""
    timeout = submit.get("execution_timeout")
    return None if timeout is None or start is None else start + float(timeout)


def operator_from(classpath: str, keywords: Mapping[str, Any], *, task_id: str, log: TaskLog) -> Any:
    """The operator ``classpath``, built again from its (decoded) keywords, outside any DAG."""
    module, _, name = classpath.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, BaseOperator)):
        raise ConfigurationError(f"start_from_trigger: {classpath} is not an operator")
    task = cls(**{**keywords, "task_id": task_id, "start_from_trigger": False})
    task._log = log  # its lines go where the trigger's go: the task log
    return task


@dataclass(kw_only=True, eq=False, repr=False)
class OperatorStartTrigger(KubeTrigger):
    """Build the operator in the triggerer, let it create the task's work, then wait as its trigger.

    Kwargs: the connection (never credentials), the finish plan, and ``submit``: at least the
    operator's class path (``operator``) and its keywords as written in the DAG (``keywords``).
    Subclasses implement ``_create()`` (idempotent) returning the waiting trigger, and may decode
    keywords (``_decoded()``) and adjust the rebuilt operator (``_prepared()``).
    """

    submit: dict[str, Any]

    def __post_init__(self) -> None:
        super().__post_init__()
        self._task: Any = None  # the operator, built again and rendered here
        self._context: Any = None
        self._render_error: str | None = None
        self._creation: asyncio.Task[KubeTrigger] | None = None
        self._waiting: KubeTrigger | None = None

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Build the operator and render its template fields as a worker would (the triggerer calls
        this before ``run()``); an error fails the task with it."""
        ti = self.task_instance
        try:
            keywords = self._decoded(dict(self.submit["keywords"]))
            task_id = str(getattr(ti, "task_id", ""))
            task = self._prepared(
                operator_from(str(self.submit["operator"]), keywords, task_id=task_id, log=self.log)
            )
            dag = getattr(self.task, "dag", None)
            task.render_template_fields(context, jinja_env=jinja_env or template_env(dag))
        except Exception as exc:  # the task fails with the reason instead of a triggerer traceback
            self._render_error = f"building the task in the triggerer failed: {type(exc).__name__}: {exc}"
            return
        self._task, self._context = task, context
        for key in self._connection_kwargs():  # config_file, cluster_context are template fields
            setattr(self, key, getattr(task, key))

    def _decoded(self, keywords: dict[str, Any]) -> dict[str, Any]:
        """The stored keywords as the operator takes them (what ``start_args`` turned)."""
        if "secrets" in keywords:
            keywords["secrets"] = [Secret(**secret) for secret in keywords["secrets"] or []]
        return keywords

    def _prepared(self, task: Any) -> Any:
        """The rebuilt operator, before it is rendered (a subclass sets what did not travel)."""
        return task

    async def wait(self) -> Event:
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
        raise NotImplementedError

    async def _push_start_xcoms(self, xcoms: dict[str, Any]) -> None:
        """The XComs a worker pushes when it starts the task; best effort: what was created must
        still be waited for (and deleted on a kill) if the execution API fails this once."""
        try:
            await push_xcoms(self.task_instance, xcoms)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.warning("Could not push the XComs %s from the triggerer: %s", ", ".join(xcoms), exc)

    # -- as the waiting trigger ---------------------------------------------------------------
    def _event(self, status: Status, *, reason: str = "", message: str = "") -> Event:
        if self._waiting is not None:
            return self._waiting._event(status, reason=reason, message=message)
        # Nothing was created yet: no kind and no name, so messages say "(not created)" and no
        # finish action looks for an object.
        return {
            "status": status,
            "kind": "",
            "name": "",
            "namespace": None,
            "uid": None,
            "reason": reason,
            "message": message,
        }

    def _outcome(self, event: Mapping[str, Any], plan: FinishPlan) -> Outcome:
        waiting = self._waiting
        return waiting._outcome(event, plan) if waiting is not None else super()._outcome(event, plan)

    def _finish_intent(self, event: Mapping[str, Any], plan: FinishPlan) -> str | None:
        waiting = self._waiting
        return waiting._finish_intent(event, plan) if waiting is not None else None

    async def _apply_finish_action(self, event: Mapping[str, Any], plan: FinishPlan) -> None:
        if self._waiting is not None:
            await self._waiting._apply_finish_action(event, plan)

    def _keeps_on_kill(self) -> bool:
        return self._waiting._keeps_on_kill() if self._waiting is not None else False

    async def _kill(self) -> None:
        """Undo what this start created (the waiting trigger's kill), once the creation is done."""
        if not await self._claim_kill():
            return
        if self._creation is None:
            return
        creation = self._creation
        await once_created(creation, lambda: self._undo(creation), log=self.log, what="what it runs")

    async def _undo(self, creation: asyncio.Task[KubeTrigger]) -> None:
        if creation.cancelled() or creation.exception() is not None:
            return  # a failed creation undid itself, or created nothing
        # The waiting trigger has no task instance: it acts on the claim made here.
        await creation.result()._kill()
