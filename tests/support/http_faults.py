"""An HTTP proxy in front of the real API server that answers bursts of 429/500/503 on cue.

The API server's own limits (priority and fairness, its storage) cannot be made to fail on cue
here, so this proxy terminates TLS (with a certificate of its own, which the test's kubeconfig
trusts), forwards every request to the API server as it came (its bearer token, body, streaming
answers for watches and log follows, websockets for exec), and during ``burst()`` answers every
new request with the next status of the burst instead. A burst starts by cutting the streams that
are open, so the watches and log follows meet it when they reconnect.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import ipaddress
import itertools
import json
import ssl
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.background import BackgroundLoop

# Not forwarded either way: they describe one hop, not the message.
_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length", "te"}
_REASONS = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}


def _certificate() -> tuple[bytes, bytes, bytes]:
    """A CA, and a server certificate for 127.0.0.1 it signed: (CA PEM, server PEM, key PEM)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "http-faults test CA")])

    def signed(subject: x509.Name, public_key: Any, *extensions: tuple[Any, bool]) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder(subject_name=subject, issuer_name=ca_name, public_key=public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(ca_key, hashes.SHA256())

    usage = x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=True,
        crl_sign=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )
    ca = signed(
        ca_name,
        ca_key.public_key(),
        (x509.BasicConstraints(ca=True, path_length=0), True),
        (usage, True),
        (x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False),
    )
    server = signed(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]),
        key.public_key(),
        (x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False),
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False),
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ca.public_bytes(pem), server.public_bytes(pem), key_pem


def _status_body(code: int) -> dict[str, Any]:
    reason = _REASONS.get(code, "InternalError")
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": f"injected by the test's fault proxy ({reason})",
    }


class HttpFaultProxy:
    def __init__(self, *, upstream: str, upstream_ca: bytes) -> None:
        self.upstream = upstream.rstrip("/")
        self._upstream_ssl = ssl.create_default_context(cadata=upstream_ca.decode())
        self.ca_pem, cert, key = _certificate()
        with tempfile.TemporaryDirectory() as tmp:  # ssl loads a chain from files only
            (Path(tmp) / "cert.pem").write_bytes(cert)
            (Path(tmp) / "key.pem").write_bytes(key)
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ssl.load_cert_chain(Path(tmp) / "cert.pem", Path(tmp) / "key.pem")
        self.port = 0
        self.answered: Counter[int] = Counter()  # injected statuses, by code
        self.forwarded = 0
        self._statuses: Iterator[int] | None = None
        self._retry_after: int | None = None
        self._streams: dict[asyncio.BaseTransport, asyncio.Task[Any]] = {}  # answers being streamed
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> HttpFaultProxy:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self._upstream_ssl), auto_decompress=False
        )
        server = web.Server(self._handle, access_log=None)
        self._runner = web.ServerRunner(server)  # type: ignore[assignment]
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        self._cut()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def burst(self, statuses: Sequence[int], *, retry_after: int | None = None) -> int:
        """From now on answer every request with the next of ``statuses`` in turn (``Retry-After``
        with 429 if given); open streams are cut first. How many streams were cut."""
        self._statuses = itertools.cycle(statuses)
        self._retry_after = retry_after
        return self._cut()

    def heal(self) -> None:
        self._statuses = None

    def _cut(self) -> int:
        count = len(self._streams)
        for transport, handler in list(self._streams.items()):
            transport.abort()  # type: ignore[attr-defined]
            handler.cancel()  # it may be waiting on the API server (a quiet watch)
        self._streams.clear()
        return count

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if self._statuses is not None:
            code = next(self._statuses)
            self.answered[code] += 1
            headers = {"Retry-After": str(self._retry_after)} if code == 429 and self._retry_after else {}
            return web.json_response(_status_body(code), status=code, headers=headers)
        self.forwarded += 1
        assert self._session is not None and request.transport is not None
        transport = request.transport
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        url = self.upstream + request.path_qs
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request, url, headers, transport)
        body = await request.read()
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        try:
            upstream = await self._session.request(
                request.method,
                url,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
            )
        except aiohttp.ClientError:
            return web.json_response(_status_body(503), status=503)
        async with upstream:
            response = web.StreamResponse(
                status=upstream.status,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in _HOP},
            )
            self._streams[transport] = asyncio.current_task()  # type: ignore[assignment]
            try:
                await response.prepare(request)
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
            except (ConnectionError, aiohttp.ClientError):
                pass
            finally:
                self._streams.pop(transport, None)
        return response

    async def _websocket(
        self, request: web.BaseRequest, url: str, headers: dict[str, str], transport: asyncio.BaseTransport
    ) -> web.StreamResponse:
        protocols = [
            p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
        ]
        forwarded = {k: v for k, v in headers.items() if not k.lower().startswith("sec-websocket")}
        assert self._session is not None
        async with self._session.ws_connect(url, headers=forwarded, protocols=protocols) as up:
            down = web.WebSocketResponse(protocols=[up.protocol] if up.protocol else ())
            await down.prepare(request)  # type: ignore[arg-type]
            self._streams[transport] = asyncio.current_task()  # type: ignore[assignment]
            try:
                await asyncio.gather(_pump(up, down), _pump(down, up))
            finally:
                self._streams.pop(transport, None)
            return down


async def _pump(source: Any, sink: Any) -> None:
    """Frames from one websocket to the other until either closes."""
    with contextlib.suppress(ConnectionError, aiohttp.ClientError, RuntimeError):
        async for message in source:
            if message.type == aiohttp.WSMsgType.BINARY:
                await sink.send_bytes(message.data)
            elif message.type == aiohttp.WSMsgType.TEXT:
                await sink.send_str(message.data)
            else:
                break
    with contextlib.suppress(Exception):
        await sink.close()


class BackgroundHttpFaultProxy:
    """An :class:`HttpFaultProxy` on a loop of its own thread, for tests that are not async (a real
    Airflow reaching the API server through it). Use as a context manager."""

    def __init__(self, *, kubeconfig: dict[str, Any]) -> None:
        cluster = kubeconfig["clusters"][0]["cluster"]
        self._loop = BackgroundLoop(name="http-faults")
        self._proxy = HttpFaultProxy(
            upstream=cluster["server"], upstream_ca=base64.b64decode(cluster["certificate-authority-data"])
        )

    def __enter__(self) -> BackgroundHttpFaultProxy:
        self._loop.start(self._proxy.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.stop(self._proxy.close())

    def kubeconfig(self, kubeconfig: dict[str, Any]) -> dict[str, Any]:
        """``kubeconfig`` pointed at this proxy (and trusting its certificate)."""
        config = json.loads(json.dumps(kubeconfig))
        for entry in config["clusters"]:
            entry["cluster"]["server"] = f"https://127.0.0.1:{self._proxy.port}"
            entry["cluster"]["certificate-authority-data"] = base64.b64encode(self._proxy.ca_pem).decode()
        return config

    @property
    def answered(self) -> Counter[int]:
        return Counter(self._proxy.answered)

    @property
    def forwarded(self) -> int:
        return self._proxy.forwarded

    def burst(self, statuses: Sequence[int], *, retry_after: int | None = None) -> int:
        async def burst() -> int:
            return self._proxy.burst(statuses, retry_after=retry_after)

        return self._loop.call(burst())  # type: ignore[no-any-return]

    def heal(self) -> None:
        self._loop.soon(self._proxy.heal)
