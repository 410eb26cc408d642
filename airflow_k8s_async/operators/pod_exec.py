"""KubernetesPodExecOperator: run a command in a running container of an existing pod (the cncf
provider's operator, same keywords).

It runs on the worker, as the provider's does: the command's output is a live stream on one
connection, which another process cannot take over, and starting the command again elsewhere
after a triggerer restart could run it twice. The pod is never created, restarted or deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException

from airflow_k8s_async._kube.client import get_client
from airflow_k8s_async._kube.exec import STDERR, STDOUT, ExecResult, exec_in_container
from airflow_k8s_async._kube.logs import char_boundary
from airflow_k8s_async._kube.mapping import as_list, as_map, metadata_of
from airflow_k8s_async._kube.subscription import PODS
from airflow_k8s_async._kube.tasklog import TaskLog
from airflow_k8s_async.errors import ConfigurationError, KubeNotFoundError
from airflow_k8s_async.hooks.kubernetes import DEFAULT_CONN_ID
from airflow_k8s_async.operators.shared import KubeOperatorMixin, templated
from airflow_k8s_async.operators.sync import run_sync

__all__ = ["KubernetesPodExecOperator"]

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
MAX_XCOM_OUTPUT_SIZE = 49_344  # the provider's default
LINE_LIMIT = 64 * 1024  # bytes of one line held before it is shown in pieces


def _checked_command(command: Any) -> list[str]:
    """A non-empty list of strings (a single string is refused: there is no shell)."""
    if isinstance(command, str) or not isinstance(command, Sequence):
        raise ConfigurationError(
            f"command={command!r}: give a list of strings, e.g. ['sh', '-c', '...'] (no shell is added)"
        )
    if not command or not all(isinstance(part, str) for part in command):
        raise ConfigurationError(f"command={command!r}: give a non-empty list of strings")
    return list(command)


def _pick_container(pod: dict[str, Any], wanted: str | None) -> str:
    """``wanted``, else the pod's default-container annotation, else its first container."""
    names = [str(c.get("name")) for c in as_list(as_map(pod.get("spec")).get("containers"))]
    meta = metadata_of(pod)
    where = f"pod {meta.get('namespace')}/{meta.get('name')}"
    if not names:
        raise ConfigurationError(f"{where} has no containers")
    if wanted:
        if wanted not in names:
            raise ConfigurationError(f"container_name={wanted!r}: {where} has {', '.join(names)}")
        return wanted
    default = as_map(meta.get("annotations")).get(DEFAULT_CONTAINER_ANNOTATION)
    return default if default in names else names[0]


def _running_problem(pod: dict[str, Any], container: str) -> str | None:
    """Why ``container`` of ``pod`` cannot take an exec now, or None."""
    status = as_map(pod.get("status"))
    if status.get("phase") != "Running":
        return f"the pod is {status.get('phase') or 'not started'}, not Running"
    for found in as_list(status.get("containerStatuses")):
        if found.get("name") == container:
            state = as_map(found.get("state"))
            if state.get("running") is None:
                return f"container {container} is not running ({', '.join(state) or 'no state'})"
            return None
    return f"container {container} has no status yet"


class _Lines:
    """Chunks of one stream cut into lines for the task log; a partial line waits for its end, up
    to ``LINE_LIMIT`` bytes (a progress bar's ``\r`` or base64 without newlines is shown in pieces,
    never held whole). Pieces are cut between UTF-8 characters."""

    def __init__(self, *, log: TaskLog, name: str) -> None:
        self.log, self.name, self.rest = log, name, bytearray()

    def feed(self, chunk: bytes) -> None:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            self.rest += chunk[start:end]
            self._show()
            start = end + 1
        self.rest += chunk[start:]
        while len(self.rest) > LINE_LIMIT:  # (the byte after the cut is known)
            cut = char_boundary(self.rest, LINE_LIMIT)
            piece, self.rest = self.rest[:cut], self.rest[cut:]
            self._show(piece)

    def close(self) -> None:
        if self.rest:
            self._show()

    def _show(self, piece: bytearray | None = None) -> None:
        if piece is None:
            piece, self.rest = self.rest, bytearray()
        self.log.info("[%s] %s", self.name, piece.decode("utf-8", errors="replace").removesuffix("\r"))


class KubernetesPodExecOperator(KubeOperatorMixin, BaseOperator):
    """Run ``command`` (a list, no shell added) in ``container_name`` (default: the pod's
    ``kubectl.kubernetes.io/default-container``, else its first) of the running pod
    ``namespace/pod_name`` (namespace default: the connection's, else ``default``).

    stdout and stderr go to the task log line by line as they come; a non-zero exit code fails the
    task. ``do_xcom_push`` (default False) returns stdout, at most ``max_xcom_output_size`` bytes
    (more fails the task). The pod must be running: wait for it before (e.g. with a sensor).
    """

    template_fields: Sequence[str] = (
        "pod_name",
        "command",
        "namespace",
        "container_name",
        "kubernetes_conn_id",
        "cluster_context",
        "config_file",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"command": "py"}

    def __init__(
        self,
        *,
        pod_name: str,
        command: Sequence[str],
        namespace: str | None = None,
        container_name: str | None = None,
        kubernetes_conn_id: str | None = DEFAULT_CONN_ID,
        in_cluster: bool | None = None,
        cluster_context: str | None = None,
        config_file: str | None = None,
        do_xcom_push: bool = False,
        max_xcom_output_size: int = MAX_XCOM_OUTPUT_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(do_xcom_push=do_xcom_push, **kwargs)
        if isinstance(max_xcom_output_size, bool) or not isinstance(max_xcom_output_size, int):
            raise ConfigurationError(f"max_xcom_output_size={max_xcom_output_size!r}: give a number of bytes")
        if max_xcom_output_size <= 0:
            raise ConfigurationError(f"max_xcom_output_size={max_xcom_output_size}: give a positive number")
        if isinstance(command, (list, tuple)) or (isinstance(command, str) and not templated(command)):
            _checked_command(command)  # else (Jinja, an XComArg) once rendered, in execute
        self.pod_name = pod_name
        self.command = command
        self.namespace = namespace
        self.container_name = container_name
        self.kubernetes_conn_id = kubernetes_conn_id
        self.in_cluster = in_cluster
        self.cluster_context = cluster_context
        self.config_file = config_file
        self.max_xcom_output_size = max_xcom_output_size

    def execute(self, context: Context) -> str | None:
        command = _checked_command(self.command)
        if not self.pod_name:
            raise ConfigurationError("pod_name is empty: give the pod's name")
        target = self._target()
        namespace = self.namespace or target.namespace or "default"
        kept: list[bytes] = []
        size = 0
        lines = {STDOUT: _Lines(log=self.log, name="stdout"), STDERR: _Lines(log=self.log, name="stderr")}

        def on_output(channel: int, chunk: bytes) -> None:
            nonlocal size
            lines[channel].feed(chunk)
            if channel == STDOUT and self.do_xcom_push:
                size += len(chunk)
                if size > self.max_xcom_output_size:
                    raise AirflowException(
                        f"stdout passed max_xcom_output_size ({self.max_xcom_output_size} bytes): "
                        "print less, or set do_xcom_push=False"
                    )
                kept.append(chunk)

        async def run() -> tuple[str, ExecResult]:
            client = await get_client(target.cluster)
            try:
                pod = await client.request("GET", PODS.path(namespace=namespace, name=self.pod_name))
            except KubeNotFoundError:
                raise ConfigurationError(f"pod {namespace}/{self.pod_name} does not exist") from None
            container = _pick_container(pod, self.container_name)
            if problem := _running_problem(pod, container):
                raise AirflowException(f"cannot exec in pod {namespace}/{self.pod_name}: {problem}")
            self.log.info(
                "Executing %s in container %s of pod %s/%s", command, container, namespace, self.pod_name
            )
            try:
                result = await exec_in_container(
                    client,
                    namespace=namespace,
                    pod=self.pod_name,
                    container=container,
                    command=command,
                    timeout=None,
                    on_output=on_output,
                )
            finally:
                for stream in lines.values():
                    stream.close()
            return container, result

        container, result = run_sync(run)
        where = f"container {container} of pod {namespace}/{self.pod_name}"
        if result.exit_code < 0:
            raise AirflowException(f"the command in {where} ended without an exit code: {result.message}")
        if result.exit_code:
            raise AirflowException(f"the command in {where} failed with exit code {result.exit_code}")
        return b"".join(kept).decode("utf-8", errors="replace") if self.do_xcom_push else None
