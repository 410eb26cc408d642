"""A scripted Kubernetes API on kmock, for faults the real API server cannot be made to show on cue.

Each LIST and WATCH request takes the next scripted answer; every request's query is recorded, so
tests can assert how the hub resumed (which resourceVersion, whether it listed again).
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import kmock

PODS_PATH = "/api/v1/namespaces/ns/pods"
HANG = "hang"  # a watch script item: keep the stream open until the test ends


def pod(name: str, rv: int, phase: str = "Pending", *, uid: str | None = None) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": uid or f"uid-{name}",
            "resourceVersion": str(rv),
            "managedFields": [{"manager": "kubelet"}],
        },
        "status": {"phase": phase},
    }


def pod_list(rv: int, *pods: dict[str, Any]) -> dict[str, Any]:
    items = [{k: v for k, v in p.items() if k not in ("kind", "apiVersion")} for p in pods]
    return {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": str(rv)}, "items": items}


def ok(payload: Any) -> kmock.Response:
    # kmock keeps the status and headers of the last Response a callable returned on the
    # reaction itself, so every answer states its own status (and clears Retry-After).
    return kmock.Response(status=200, headers={"Retry-After": None}, payload=payload)


def status(code: int, reason: str, message: str = "") -> kmock.Response:
    body = {"kind": "Status", "status": "Failure", "code": code, "reason": reason, "message": message}
    return kmock.Response(status=code, payload=body)


class FakeApi:
    def __init__(self, handler: kmock.RawHandler) -> None:
        self.lists: deque[Any] = deque()  # dicts (200 JSON) or kmock.Response
        self.watches: deque[list[Any]] = deque()  # lists of events / HANG / kmock.Response
        self.gets: dict[str, Any] = {}  # name -> object or kmock.Response
        self.list_queries: list[dict[str, str]] = []
        self.watch_queries: list[dict[str, str]] = []
        self.tokens: list[str | None] = []
        self.accepted_token: str | None = None
        handler[f"get {PODS_PATH}", kmock.params(watch="true")] << self._watch
        handler[f"get {PODS_PATH}"] << self._list
        handler[kmock.method("get"), kmock.path(re.compile(f"^{PODS_PATH}/[^/]+$"))] << self._get

    def _auth(self, request: kmock.Request) -> kmock.Response | None:
        token = request.headers.get("Authorization")
        self.tokens.append(token)
        if self.accepted_token is not None and token != f"Bearer {self.accepted_token}":
            return status(401, "Unauthorized")
        return None

    def _list(self, request: kmock.Request) -> Any:
        self.list_queries.append(dict(request.params))
        denied = self._auth(request)
        if denied is not None:
            return denied
        answer = self.lists.popleft() if len(self.lists) > 1 else self.lists[0]
        return answer if isinstance(answer, kmock.Response) else ok(answer)

    def _get(self, request: kmock.Request) -> Any:
        name = request.url.path.rsplit("/", 1)[-1]
        found = self.gets.get(name)
        return ok(found) if found is not None else status(404, "NotFound", f'pods "{name}" not found')

    def _watch(self, request: kmock.Request) -> Any:
        self.watch_queries.append(dict(request.params))
        denied = self._auth(request)
        if denied is not None:
            return denied
        script = self.watches.popleft() if self.watches else [HANG]
        if len(script) == 1 and isinstance(script[0], kmock.Response):
            return script[0]
        return ok(self._stream(script))

    @staticmethod
    async def _stream(script: list[Any]) -> AsyncIterator[Any]:
        yield b""  # send the headers now, as the API server does
        for item in script:
            if item == HANG:
                await asyncio.Event().wait()
            yield item
