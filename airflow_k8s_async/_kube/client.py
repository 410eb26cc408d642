"""KubeClient: one per (ClusterConfig, running event loop), reused by every trigger in the process.

kubernetes-asyncio is used for what it does well (loading kubeconfig / in-cluster credentials,
exec plugins, the TLS context and the aiohttp session); requests are plain JSON over that session,
so callers work with dicts and no model classes are built per object. A 401 reloads the
credentials once (service-account token files and exec plugins rotate) and retries; 429 and 5xx
are retried over a backoff sequence, honouring ``Retry-After``. Loading the credentials is in
``credentials.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.client.rest import RESTClientObject

from airflow_k8s_async import __version__
from airflow_k8s_async._kube.cluster import ClusterConfig
from airflow_k8s_async._kube.credentials import load_configuration, tls_identity
from airflow_k8s_async._kube.perloop import PerLoop
from airflow_k8s_async._kube.retry import backoff_delays
from airflow_k8s_async.errors import (
    KubeApiError,
    KubeConnectionError,
    KubeNotFoundError,
    KubeServerError,
    KubeTooManyRequestsError,
    KubeUnauthorizedError,
    api_error,
)

__all__ = ["MERGE_PATCH", "KubeClient", "close_clients", "get_client", "keep_alive", "leased_client"]

log = logging.getLogger(__name__)

# Requests that change nothing, or change it the same way twice, may be retried after a broken
# connection or a 5xx; a POST may have been applied, so it is not.
_IDEMPOTENT = frozenset({"GET", "HEAD", "DELETE", "PUT"})
_RETRY_ATTEMPTS = 5
DEFAULT_TIMEOUT = 60.0
CONNECT_TIMEOUT = 60.0  # loading credentials (an exec plugin may run)
MERGE_PATCH = "application/merge-patch+json"
# Unary requests in flight per client: bounds bursts (1000 triggers starting at once) without
# limiting long-lived streams (watches, log follows), which must never wait for a slot.
_MAX_UNARY_IN_FLIGHT = 64
# Long-lived streams find a dead peer in about KEEPALIVE_IDLE + INTERVAL * PROBES = 60 s.
KEEPALIVE_IDLE = 30
KEEPALIVE_INTERVAL = 10
KEEPALIVE_PROBES = 3


def keep_alive(sock: socket.socket | None) -> None:
    """TCP keepalive probes after KEEPALIVE_IDLE seconds of silence, KEEPALIVE_INTERVAL apart;
    KEEPALIVE_PROBES unanswered ones close the connection (Linux names; elsewhere the system's)."""
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
        ("TCP_KEEPCNT", KEEPALIVE_PROBES),
    ):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None


class KubeClient:
    """JSON requests and streams against one cluster, over one pooled aiohttp session."""

    def __init__(self, *, cluster: ClusterConfig, configuration: Configuration) -> None:
        self.cluster = cluster
        self._cfg = configuration
        self._rest = self._new_rest(configuration)
        self._retired: list[RESTClientObject] = []
        self._generation = 0
        self._reload_lock = asyncio.Lock()
        self._unary = asyncio.Semaphore(_MAX_UNARY_IN_FLIGHT)
        self.requests: Counter[str] = Counter()  # by HTTP method; read by tests and benchmarks
        self.credential_reloads = 0
        # The cluster's kinds by apiVersion (``discovery.py``): they live and go with the client.
        self.discovered: dict[str, asyncio.Task[Any]] = {}

    @classmethod
    async def connect(cls, *, cluster: ClusterConfig) -> KubeClient:
        return cls(cluster=cluster, configuration=await load_configuration(cluster))

    @staticmethod
    def _new_rest(cfg: Configuration) -> RESTClientObject:
        cfg.connection_pool_maxsize = 0  # unlimited: watches and log streams hold connections
        return RESTClientObject(cfg)

    @property
    def host(self) -> str:
        return str(self._cfg.host)

    async def close(self) -> None:
        for lookup in self.discovered.values():
            lookup.cancel()
        self.discovered.clear()
        for rest in [self._rest, *self._retired]:
            await rest.close()
        self._retired.clear()

    async def reload_credentials(self, *, seen_generation: int) -> None:
        """Load credentials again, once for all callers that saw the same 401."""
        async with self._reload_lock:
            if self._generation != seen_generation:
                return  # another caller already reloaded after this 401
            cfg = await load_configuration(self.cluster)
            if tls_identity(cfg) != tls_identity(self._cfg):
                # New client certificate or CA: new session; the old one may still carry streams.
                self._retired.append(self._rest)
                self._rest = self._new_rest(cfg)
            self._cfg = cfg
            self._generation += 1
            self.credential_reloads += 1
            log.info("reloaded Kubernetes credentials (%s)", self.cluster.describe())

    async def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": f"airflow-k8s-async/{__version__}"}
        if content_type:
            headers["Content-Type"] = content_type
        for auth in (await self._cfg.auth_settings()).values():
            if auth.get("in") == "header" and auth.get("value"):
                headers[auth["key"]] = auth["value"]
        return headers

    async def _send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None,
        body: Any,
        content_type: str | None,
        timeout: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        url = self.host + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        headers = await self._headers(content_type if data is not None else None)
        self.requests[method] += 1
        kwargs: dict[str, Any] = {"headers": headers, "data": data, "timeout": timeout}
        if self._rest.proxy:
            kwargs["proxy"] = self._rest.proxy
        if self._rest.server_hostname:
            kwargs["server_hostname"] = self._rest.server_hostname
        try:
            return await self._rest.pool_manager.request(method, url, **kwargs)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise KubeConnectionError(
                f"{method} {path}: cannot reach the Kubernetes API at {self.host}: {exc!r}"
            ) from exc

    async def _error(self, resp: aiohttp.ClientResponse, method: str, path: str) -> KubeApiError:
        text = await resp.text(errors="replace")
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        return api_error(
            status=resp.status,
            body=body if isinstance(body, (dict, str)) else text,
            method=method,
            path=path,
            retry_after=_retry_after(resp.headers),
        )

    @contextlib.asynccontextmanager
    async def _open(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: aiohttp.ClientTimeout,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Open a request, with one credential reload on 401 and retries per the rules above."""
        reloaded = False
        delays = backoff_delays(attempts=_RETRY_ATTEMPTS)
        while True:
            generation = self._generation
            try:
                resp = await self._send(
                    method, path, query=query, body=body, content_type=content_type, timeout=timeout
                )
                if resp.status >= 400:
                    try:
                        raise await self._error(resp, method, path)
                    finally:
                        resp.release()
            except KubeUnauthorizedError:
                if reloaded:
                    raise
                reloaded = True
                await self.reload_credentials(seen_generation=generation)
                continue
            except (KubeTooManyRequestsError, KubeServerError, KubeConnectionError) as exc:
                # A 429 was not processed, so any method may be retried; the rest only if idempotent.
                retryable = isinstance(exc, KubeTooManyRequestsError) or method in _IDEMPOTENT
                delay = next(delays, None)
                if not retryable or delay is None:
                    raise
                retry_after = getattr(exc, "retry_after", None)
                log.debug("retrying %s %s in %.1fs after %s", method, path, retry_after or delay, exc)
                await asyncio.sleep(retry_after if retry_after is not None else delay)
                continue
            try:
                yield resp
            finally:
                resp.release()
            return

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Any:
        """One request; returns the parsed JSON answer (or text, for non-JSON answers like logs)."""
        async with self._unary:
            async with self._open(
                method,
                path,
                query=query,
                body=body,
                content_type=content_type,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                raw = await resp.read()
                if "json" in resp.headers.get("Content-Type", ""):
                    return json.loads(raw)
                return raw.decode("utf-8", errors="replace")

    async def delete(
        self,
        path: str,
        *,
        uid: str | None = None,
        resource_version: str | None = None,
        grace_period: int | None = None,
        propagation: str = "Background",
    ) -> bool:
        """Delete one object (dependents by ``propagation``: Background, Foreground or Orphan);
        False if it was already gone.

        With ``uid`` the API server deletes only that object, never a namesake created since;
        with ``resource_version`` only if it did not change since read (else KubeConflictError).
        """
        body: dict[str, Any] = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": propagation,
        }
        if grace_period is not None:
            body["gracePeriodSeconds"] = grace_period
        preconditions = {"uid": uid, "resourceVersion": resource_version}
        if any(preconditions.values()):
            body["preconditions"] = {k: v for k, v in preconditions.items() if v}
        try:
            await self.request("DELETE", path, body=body)
        except KubeNotFoundError:
            return False
        return True

    @contextlib.asynccontextmanager
    async def stream(
        self,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        read_timeout: float | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A long-lived GET (watch, log follow); ``read_timeout`` bounds silence on the socket, and
        TCP keepalive finds a peer that went away without a word (a lost node, a dropped NAT entry)."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=read_timeout)
        async with self._open("GET", path, query=query, timeout=timeout) as resp:
            if resp.connection is not None and resp.connection.transport is not None:
                keep_alive(resp.connection.transport.get_extra_info("socket"))
            yield resp

    @contextlib.asynccontextmanager
    async def websocket(
        self, path: str, *, query: list[tuple[str, str]], protocols: tuple[str, ...]
    ) -> AsyncIterator[aiohttp.ClientWebSocketResponse[bool]]:
        """A websocket (exec, attach) on the pooled session; one credential reload on 401."""
        url = self.host.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + path
        url += "?" + urlencode(query)
        for attempt in range(2):
            generation = self._generation
            headers = await self._headers(None)
            del headers["Accept"]  # the API server answers 406 to an upgrade that asks for JSON
            self.requests["WEBSOCKET"] += 1
            kwargs: dict[str, Any] = {"headers": headers, "protocols": protocols, "heartbeat": 30.0}
            if self._rest.proxy:
                kwargs["proxy"] = self._rest.proxy
            if self._rest.server_hostname:
                kwargs["server_hostname"] = self._rest.server_hostname
            try:
                ws = await self._rest.pool_manager.ws_connect(url, **kwargs)
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status == 401 and attempt == 0:
                    await self.reload_credentials(seen_generation=generation)
                    continue
                raise api_error(status=exc.status, body=exc.message, method="GET", path=path) from exc
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                raise KubeConnectionError(f"{path}: cannot reach the Kubernetes API: {exc!r}") from exc
            try:
                yield ws
            finally:
                await ws.close()
            return


# One client per cluster config per loop (tests and `asyncio.run` on workers create and drop loops).
CLIENTS: PerLoop[ClusterConfig, KubeClient] = PerLoop("Kubernetes clients", close=KubeClient.close, order=2)


async def get_client(cluster: ClusterConfig) -> KubeClient:
    """The shared client for ``cluster`` on the running loop; created on first use.

    Connecting is bounded: a credential plugin that hangs must fail (and be tried again), not
    block every trigger.
    """
    return await CLIENTS.get(
        cluster, lambda: asyncio.wait_for(KubeClient.connect(cluster=cluster), CONNECT_TIMEOUT)
    )


_LEASES: PerLoop[None, dict[ClusterConfig, int]] = PerLoop("client leases")


@contextlib.asynccontextmanager
async def leased_client(cluster: ClusterConfig) -> AsyncIterator[KubeClient]:
    """The shared client for ``cluster``, closed once its last lease ends: for credentials that
    are renewed (a new token, a new cluster config each time), whose clients would otherwise
    stay open for the life of the process."""
    leases = _LEASES.get_now(None, dict)
    leases[cluster] = leases.get(cluster, 0) + 1
    try:
        yield await get_client(cluster)
    finally:
        leases[cluster] -= 1
        if not leases[cluster]:
            del leases[cluster]
            client = await CLIENTS.pop(cluster)
            if client is not None:
                await client.close()


async def close_clients() -> None:
    """Close every client of the running loop (end of a worker's `asyncio.run`, tests)."""
    await CLIENTS.close()
