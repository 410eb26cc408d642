"""A loopback TCP proxy in front of the API server, to break connections for real.

TLS passes through untouched (the API server's certificate is valid for 127.0.0.1 on any port).
``cut()`` closes every open connection at once; ``refuse()`` makes new connections fail until
``accept()``; ``hold()`` makes new connections wait (accepted, not yet forwarded: a slow API
server) until ``release()``; ``freeze()`` makes the connections open now go silent both ways and
stay open (half-open: a lost node, a load balancer that dropped them), new ones are not affected;
counters say how many connections clients opened and how many wait.
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.support.background import BackgroundLoop


class TcpProxy:
    def __init__(self, *, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.connections_opened = 0
        self.refused = 0  # connections refused (see refuse())
        self._refusing = False
        self._released = asyncio.Event()
        self._released.set()
        self.held = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._flowing: set[asyncio.Event] = set()  # one per open connection, cleared to freeze it
        self._frozen: list[asyncio.Event] = []

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def open_connections(self) -> int:
        return len(self._open) // 2

    def refuse(self) -> None:
        self._refusing = True

    def accept(self) -> None:
        self._refusing = False

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def freeze(self) -> int:
        """Stop forwarding on every open connection, leaving it open; returns how many."""
        count = len(self._flowing)
        for flowing in self._flowing:
            flowing.clear()
        self._frozen.extend(self._flowing)
        self._flowing.clear()
        return count

    def cut(self) -> int:
        """Close every open connection (both sides); returns how many were cut."""
        count = self.open_connections
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()
        return count

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for flowing in self._frozen:
            flowing.set()  # into aborted transports: the pipes end
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)
        if self._refusing:
            self.refused += 1
            writer.transport.abort()
            return
        self.connections_opened += 1
        if not self._released.is_set():
            self.held += 1
            await self._released.wait()
            self.held -= 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, up_writer))
        flowing = asyncio.Event()
        flowing.set()
        self._flowing.add(flowing)
        await asyncio.gather(self._pipe(reader, up_writer, flowing), self._pipe(up_reader, writer, flowing))
        self._flowing.discard(flowing)
        self._open.discard(writer)
        self._open.discard(up_writer)

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, flowing: asyncio.Event
    ) -> None:
        try:
            while data := await reader.read(65536):
                await flowing.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.transport.abort()


class BackgroundProxy:
    """A :class:`TcpProxy` on a loop of its own thread, for tests that are not async (e.g. a real
    Airflow reaching the API server through it). Use as a context manager."""

    def __init__(self, *, target_host: str, target_port: int) -> None:
        self._loop = BackgroundLoop(name="tcp-proxy")
        self._proxy = TcpProxy(target_host=target_host, target_port=target_port)

    def __enter__(self) -> BackgroundProxy:
        self._loop.start(self._proxy.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.stop(self._proxy.close())

    @property
    def port(self) -> int:
        return self._proxy.port

    @property
    def connections_opened(self) -> int:
        return self._proxy.connections_opened

    @property
    def held(self) -> int:
        return self._proxy.held

    def refuse(self) -> None:
        self._loop.soon(self._proxy.refuse)

    def hold(self) -> None:
        self._loop.soon(self._proxy.hold)

    def release(self) -> None:
        self._loop.soon(self._proxy.release)

    def accept(self) -> None:
        self._loop.soon(self._proxy.accept)

    def freeze(self) -> int:
        async def freeze() -> int:
            return self._proxy.freeze()

        return self._loop.call(freeze())  # type: ignore[no-any-return]

    def cut(self) -> int:
        async def cut() -> int:
            return self._proxy.cut()

        return self._loop.call(cut())  # type: ignore[no-any-return]
