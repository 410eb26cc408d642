"""Run a command in a container through the API server's websocket exec (channel protocol v4).

Used once per pod at its end (reading the XCom file from the sidecar, then stopping the sidecar),
over the shared client's session: no second client, no kubectl.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from airflow_k8s_async._kube.client import KubeClient
from airflow_k8s_async.errors import KubeConnectionError

_STDOUT, _STDERR, _STATUS = 1, 2, 3


@dataclass(frozen=True)
class ExecResult:
    stdout: str
    stderr: str
    exit_code: int


def _exit_code(status: bytes) -> int:
    """The exit code from the v4 status frame: Success, or NonZeroExitCode with an ExitCode cause."""
    try:
        body = json.loads(status)
    except ValueError:
        return -1
    if body.get("status") == "Success":
        return 0
    for cause in (body.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message", -1))
            except ValueError:
                return -1
    return -1


async def exec_in_container(
    client: KubeClient,
    *,
    namespace: str,
    pod: str,
    container: str,
    command: Sequence[str],
    timeout: float = 60.0,
) -> ExecResult:
    """Run ``command`` (no shell unless you pass one) and collect its output and exit code."""
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
            if channel == _STDOUT:
                out.extend(payload)
            elif channel == _STDERR:
                err.extend(payload)
            elif channel == _STATUS:
                status += payload

    async with client.websocket(path, query=query, protocols=("v4.channel.k8s.io",)) as ws:
        try:
            await asyncio.wait_for(collect(ws), timeout)
        except asyncio.TimeoutError as exc:
            raise KubeConnectionError(f"exec in {namespace}/{pod}[{container}] took over {timeout}s") from exc
    return ExecResult(
        stdout=out.decode("utf-8", errors="replace"),
        stderr=err.decode("utf-8", errors="replace"),
        exit_code=_exit_code(status) if status else -1,
    )
