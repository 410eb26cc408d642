"""Task decorators: a Python function run in a pod (``@task.kubernetes_async``), or a function that
returns the pod's command (``@task.kubernetes_async_cmd``), deferrable like every pod task here.

They are the cncf provider's ``@task.kubernetes`` and ``@task.kubernetes_cmd`` with the same
arguments (every :class:`KubernetesPodOperator` keyword, plus ``use_dill`` / ``args_only``), under
names that cannot clash when both providers are installed. For a one-line migration, import
:data:`task` from here instead of ``airflow.sdk``: its ``.kubernetes`` and ``.kubernetes_cmd`` are
these, everything else is Airflow's ``task``.

``@task.kubernetes_async``: the function's source (from its ``def`` on, without decorators) and its
arguments (pickled, or with ``use_dill``, dilled) travel in the pod's environment; the image needs
``python`` (and ``dill`` with ``use_dill``), nothing of Airflow. With ``do_xcom_push=True`` the
return value, as JSON, is the task's XCom, read by the trigger through the sidecar as for any pod
task. The worker only builds and creates the pod, then defers.
"""

from __future__ import annotations

import ast
import base64
import inspect
import pickle
import re
import textwrap
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from airflow.sdk import task as sdk_task
from airflow.sdk.bases.decorator import DecoratedOperator, TaskDecorator, task_decorator_factory
from airflow.sdk.definitions.context import Context, context_merge

from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.operators.pod import KubernetesPodOperator

__all__ = [
    "KubernetesCmdDecoratedOperator",
    "KubernetesDecoratedOperator",
    "function_source",
    "kubernetes_cmd_task",
    "kubernetes_task",
    "task",
]

SCRIPT_ENV = "AIRFLOW_K8S_ASYNC_SCRIPT"
INPUT_ENV = "AIRFLOW_K8S_ASYNC_INPUT"
# The container's command: no shell and no file needed, only python.
# Its lines go to linecache, and a failure is printed by ``traceback``: the task log's traceback
# shows the function's lines (the interpreter's own printing reads files, and there is none).
BOOTSTRAP = f"""\
import base64, linecache, os, sys, traceback
source = base64.b64decode(os.environ["{SCRIPT_ENV}"]).decode()
linecache.cache["airflow_task.py"] = (len(source), None, source.splitlines(True), "airflow_task.py")
try:
    exec(compile(source, "airflow_task.py", "exec"), {{"__name__": "__main__"}})
except SystemExit:
    raise
except BaseException:
    traceback.print_exc()
    sys.exit(1)
"""
# Annotations are not evaluated (the pod lacks the DAG file's imports, e.g. typing.Any).
_SCRIPT = """\
from __future__ import annotations
import base64, json, os, {library}
_given = {library}.loads(base64.b64decode(os.environ["{input_env}"]))
{source}
_result = {name}(*_given["args"], **_given["kwargs"])
if {xcom}:
    with open("/airflow/xcom/return.json", "w") as _out:
        json.dump(_result, _out)
"""


# A task decorator (``@task.kubernetes_async(...)``, ``@task.kubernetes``, ``@airflow_task...``):
# Airflow's, which the pod lacks. The function's other decorators are kept.
_TASK_DECORATOR = re.compile(r"(\w+\.)*\w*task(\.\w+)*\s*(\(|$)")


def function_source(function: Callable[..., Any]) -> str:
    """The source of ``function`` without its task decorators (the pod has no Airflow)."""
    source = textwrap.dedent(inspect.getsource(function))
    lines = source.splitlines()
    node = next(n for n in ast.parse(source).body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
    kept = [
        line
        for decorator in node.decorator_list
        if not _TASK_DECORATOR.match(ast.get_source_segment(source, decorator) or "")
        for line in lines[decorator.lineno - 1 : decorator.end_lineno]
    ]
    return "\n".join([*kept, *lines[node.lineno - 1 :]]) + "\n"


def _with_env(env_vars: Any, added: dict[str, str]) -> Any:
    """``env_vars`` (a mapping or a list, as the operator takes them) with ``added``."""
    if isinstance(env_vars, dict):
        return {**env_vars, **added}
    return [*(env_vars or []), *({"name": k, "value": v} for k, v in added.items())]


class _NoStartInTriggerer:
    """The callable runs on a worker (to build the pod, or its command): never in the triggerer."""

    custom_operator_name: str
    # The pod operator's keywords these decorators set at execute (set by its __init__).
    cmds: Any
    arguments: Any
    env_vars: Any

    def _start_trigger_args(self) -> Any:
        raise ConfigurationError(
            f"{self.custom_operator_name} builds its pod on a worker from the function: it cannot "
            "start in the triggerer (start_from_trigger)"
        )


class KubernetesDecoratedOperator(_NoStartInTriggerer, DecoratedOperator, KubernetesPodOperator):
    """What ``@task.kubernetes_async`` makes: the function runs in the pod."""

    custom_operator_name = "@task.kubernetes_async"
    # cmds and arguments are the operator's own (the bootstrap); the function's arguments are templated.
    template_fields: Sequence[str] = tuple(
        {"op_args", "op_kwargs", *KubernetesPodOperator.template_fields} - {"cmds", "arguments"}
    )
    shallow_copy_attrs: Sequence[str] = ("python_callable",)

    def __init__(self, *, use_dill: bool = False, **kwargs: Any) -> None:
        self.use_dill = use_dill
        name = kwargs.pop("name", None) or f"k8s-airflow-pod-{kwargs['python_callable'].__name__}"
        super().__init__(name=name, random_name_suffix=kwargs.pop("random_name_suffix", True), **kwargs)

    def execute(self, context: Context) -> Any:
        self.prepare_pod()
        return super().execute(context)

    def prepare_pod(self) -> None:
        """Put the function and its (rendered) arguments into the pod's environment and command."""
        if self.use_dill:
            import dill  # type: ignore[import-untyped]  # only with use_dill, as the provider

            library: Any = dill
        else:
            library = pickle
        given = library.dumps({"args": list(self.op_args), "kwargs": dict(self.op_kwargs)})
        script = _SCRIPT.format(
            library=library.__name__,
            input_env=INPUT_ENV,
            source=function_source(self.python_callable),
            name=self.python_callable.__name__,
            xcom=bool(self.do_xcom_push),
        )
        self.env_vars = _with_env(
            self.env_vars,
            {
                SCRIPT_ENV: base64.b64encode(script.encode()).decode(),
                INPUT_ENV: base64.b64encode(given).decode(),
            },
        )
        self.cmds, self.arguments = ["python", "-c", BOOTSTRAP], []


class KubernetesCmdDecoratedOperator(_NoStartInTriggerer, DecoratedOperator, KubernetesPodOperator):
    """What ``@task.kubernetes_async_cmd`` makes: the function returns the pod's command (or, with
    ``args_only``, the arguments of the image's entrypoint), computed on the worker."""

    custom_operator_name = "@task.kubernetes_async_cmd"
    overwrite_rtif_after_execution: bool = True  # the rendered view shows the command it made
    template_fields: Sequence[str] = tuple({"op_args", "op_kwargs", *KubernetesPodOperator.template_fields})

    def __init__(self, *, args_only: bool = False, **kwargs: Any) -> None:
        self.args_only = args_only
        if kwargs.pop("cmds", None) is not None or kwargs.pop("arguments", None) is not None:
            warnings.warn(  # as the provider: a warning, so its DAGs keep loading
                f"{self.custom_operator_name}: cmds= and arguments= are not used; the function returns "
                "the command (with args_only=True, the entrypoint's arguments)",
                UserWarning,
                stacklevel=3,
            )
        name = kwargs.pop("name", None) or f"k8s-airflow-pod-{kwargs['python_callable'].__name__}"
        super().__init__(name=name, random_name_suffix=kwargs.pop("random_name_suffix", True), **kwargs)

    def execute(self, context: Context) -> Any:
        from airflow.sdk.bases.decorator import determine_kwargs

        context_merge(context, self.op_kwargs)
        generated = self.python_callable(
            *self.op_args, **determine_kwargs(self.python_callable, self.op_args, context)
        )
        function = self.python_callable.__name__
        if not isinstance(generated, list) or not all(isinstance(item, str) for item in generated):
            raise ConfigurationError(f"{function} must return a list of strings, not {generated!r}")
        if not generated:
            raise ConfigurationError(f"{function} returned an empty command")
        self.cmds, self.arguments = ([], generated) if self.args_only else (generated, [])
        self.render_template_fields(context)  # the command may hold templates too
        return super().execute(context)


def kubernetes_task(
    python_callable: Callable[..., Any] | None = None, multiple_outputs: bool | None = None, **kwargs: Any
) -> TaskDecorator:
    """``@task.kubernetes_async``: run the function in a pod (see the module)."""
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=multiple_outputs,
        decorated_operator_class=KubernetesDecoratedOperator,
        **kwargs,
    )


def kubernetes_cmd_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> TaskDecorator:
    """``@task.kubernetes_async_cmd``: run the command the function returns in a pod."""
    return task_decorator_factory(
        python_callable=python_callable, decorated_operator_class=KubernetesCmdDecoratedOperator, **kwargs
    )


class _Task:
    """Airflow's ``task``, with ``.kubernetes`` / ``.kubernetes_cmd`` ours."""

    kubernetes = staticmethod(kubernetes_task)
    kubernetes_cmd = staticmethod(kubernetes_cmd_task)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return sdk_task(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(sdk_task, name)


#: ``from airflow_k8s_async.decorators import task``: the one line a DAG using the provider's
#: ``@task.kubernetes`` / ``@task.kubernetes_cmd`` changes.
task = _Task()
