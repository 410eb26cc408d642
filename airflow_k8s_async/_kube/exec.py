"""Run a command in a container through the API server's websocket exec (channel protocol v4).

Used once per pod at its end (reading the XCom file from the sidecar, then stopping the sidecar),
over the shared client's session: no second client, no kubectl.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from airflow_k8s_async._kube.client import KubeClient
from airflow_k8s_async.errors import KubeConnectionError

STDOUT, STDERR, _STATUS = 1, 2, 3


@dataclass(frozen=True)
class ExecResult:
    stdout: str
    stderr: str
    exit_code: int
    """-1: none was reported (the connection was lost, or the command could not start)."""
    message: str = ""
    """The API server's word when the command failed without an exit code (e.g. not found)."""


def _outcome(status: bytes) -> tuple[int, str]:
    """The exit code from the v4 status frame (Success, or NonZeroExitCode with an ExitCode cause)
    and the frame's message."""
    try:
        body = json.loads(status)
    except ValueError:
        return -1, status.decode("utf-8", errors="replace")
    if body.get("status") == "Success":
        return 0, ""
    message = str(body.get("message") or "")
    for cause in (body.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message", -1)), message
            except ValueError:
                return -1, message
    return -1, message


async def exec_in_container(
    client: KubeClient,
    *,
    namespace: str,
    pod: str,
    container: str,
    command: Sequence[str],
    timeout: float | None = 60.0,
    on_output: Callable[[int, bytes], None] | None = None,
) -> ExecResult:
    """Run ``command`` (no shell unless you pass one) and collect its output and exit code.

    ``on_output(channel, chunk)`` gets each chunk as it arrives (STDOUT 1, STDERR 2) instead of the
    result keeping it; it may raise to end the exec. ``timeout`` None: no bound here (the task's
    ``execution_timeout`` is one).
    """
    query = [("container", container), ("stdout", "true"), ("stderr", "true")]
    query += [("command", part) for part in command]
    path = f"/api/v1/namespaces/{namespace}/pods/{pod}/exec"
    out, err, status = bytearray(), bytearray(), b""

    async def collect(ws: aiohttp.ClientWebSocketResponse[bool]) -> None:
        nonlocal status
        async for message in ws:
            if message.type != aiohttp.WSMsgType.BINARY or not message.data:
                continue
            channel, payload = message.data[0], message.data[1:]
            if on_output is not None and channel in (STDOUT, STDERR):
                on_output(channel, payload)  # streamed, not kept: the output may be long
            elif channel == STDOUT:
                out.extend(payload)
            elif channel == STDERR:
                err.extend(payload)
            elif channel == _STATUS:
                status += payload

    async with client.websocket(path, query=query, protocols=("v4.channel.k8s.io",)) as ws:
        try:
            await asyncio.wait_for(collect(ws), timeout)
        except asyncio.TimeoutError as exc:
            raise KubeConnectionError(f"exec in {namespace}/{pod}[{container}] took over {timeout}s") from exc
    exit_code, message = _outcome(status) if status else (-1, "the connection closed without an exit code")
    return ExecResult(
        stdout=out.decode("utf-8", errors="replace"),
        stderr=err.decode("utf-8", errors="replace"),
        exit_code=exit_code,
        message=message,
    )
