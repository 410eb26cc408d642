"""What a contender process measures about itself (stdlib + aiohttp: runs in either virtualenv).

- requests it sends, by (verb, resource), counted at aiohttp's public tracing hooks: every
  contender here talks to the API server through aiohttp sessions (kubernetes_asyncio's and ours);
- event-loop lag: how late a 100 ms sleep wakes up;
- CPU seconds (all threads), RSS, and its open TCP connections to the API server.

``Measurement`` is the frame both contender processes (``bench.contender``,
``bench.armada_contender``) measure in; ``contender_main`` their command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import os
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

LAG_INTERVAL = 0.1
SAMPLE_INTERVAL = 1.0


def classify(method: str, url: str) -> tuple[str, str]:
    """(verb as the API server names it, resource) of one request."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if segments[:1] == ["api"]:
        rest = segments[2:]
    elif segments[:1] == ["apis"]:
        rest = segments[3:]
    else:
        return method.upper(), parts.path  # /version, /metrics, ...
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]
    resource_name = rest[0] if rest else ""
    if len(rest) >= 3:
        resource_name += "/" + rest[2]  # subresource: pods/status, pods/log, pods/exec
    verb = method.upper()
    if verb == "GET":
        query = parse_qs(parts.query)
        if query.get("watch", [""])[0] in ("true", "1"):
            verb = "WATCH"
        elif len(rest) == 1:
            verb = "LIST"
    return verb, resource_name


class RequestCounter:
    """Counts every aiohttp request of this process, in two windows: startup, then steady."""

    def __init__(self) -> None:
        self.windows: dict[str, Counter[str]] = {"startup": Counter(), "steady": Counter()}
        self.window = "startup"

    def install(self) -> None:
        counter = self
        original = aiohttp.ClientSession.__init__

        @functools.wraps(original)
        def init(session: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> None:
            trace = aiohttp.TraceConfig()
            trace.on_request_start.append(counter._on_start)
            kwargs["trace_configs"] = [*(kwargs.get("trace_configs") or []), trace]
            original(session, *args, **kwargs)

        aiohttp.ClientSession.__init__ = init  # type: ignore[method-assign,assignment]

    async def _on_start(self, session: Any, context: Any, params: aiohttp.TraceRequestStartParams) -> None:
        verb, resource_name = classify(params.method, str(params.url))
        self.windows[self.window][f"{verb} {resource_name}"] += 1


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def _socket_inodes() -> set[str]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def api_connections(port: int) -> int:
    """Established TCP connections of this process to ``port`` (IPv4 and IPv6)."""
    inodes = _socket_inodes()
    wanted = f":{port:04X}"
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            next(fh)
            for line in fh:
                fields = line.split()
                # fields: sl local remote state ... inode(9); state 01 = ESTABLISHED
                if fields[2].endswith(wanted) and fields[3] == "01" and fields[9] in inodes:
                    count += 1
    return count


class Samplers:
    """Background tasks: loop lag every 100 ms; RSS and connections every second."""

    def __init__(self, *, api_port: int) -> None:
        self.api_port = api_port
        self.lags: list[tuple[float, float]] = []  # (time, lag seconds)
        self.samples: list[tuple[float, int, int]] = []  # (time, rss, connections)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._lag()), asyncio.create_task(self._resources())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(LAG_INTERVAL)
            self.lags.append((time.time(), max(0.0, loop.time() - before - LAG_INTERVAL)))

    async def _resources(self) -> None:
        while True:
            self.samples.append((time.time(), rss_bytes(), api_connections(self.api_port)))
            await asyncio.sleep(SAMPLE_INTERVAL)


class Measurement:
    """One contender process's windows: startup from here to ``ready()``, steady until
    ``finish()``; CPU, RSS, loop lag and connections to ``port`` over both."""

    def __init__(self, *, port: int) -> None:
        self.cpu0, self.rss0, self.started = cpu_seconds(), rss_bytes(), time.time()
        self.samplers = Samplers(api_port=port)
        self.samplers.start()
        self.cpu1 = self.cpu2 = self.ready_at = self.end = 0.0
        self.timed_out = 0

    def ready(self, workdir: Path) -> None:
        """The steady window starts: ``ready`` tells the orchestrator to write ``go``."""
        self.cpu1, self.ready_at = cpu_seconds(), time.time()
        (workdir / "ready").write_text(str(self.ready_at))

    async def finish(self, tasks: Collection[asyncio.Task[None]], *, timeout: float) -> None:
        """Wait for ``tasks`` at most ``timeout`` seconds (the rest are cancelled and counted as
        timed out); the steady window ends."""
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self.timed_out = len(pending)
        self.cpu2, self.end = cpu_seconds(), time.time()
        await self.samplers.stop()

    def figures(self) -> dict[str, Any]:
        samples = self.samplers.samples
        return {
            "started": self.started,
            "ready": self.ready_at,
            "end": self.end,
            "timed_out": self.timed_out,
            "cpu": {"startup": self.cpu1 - self.cpu0, "steady": self.cpu2 - self.cpu1},
            "rss": {"baseline": self.rss0, "peak_sampled": max((s[1] for s in samples), default=self.rss0)},
            "peak_rss_process": peak_rss_bytes(),
            "samples": samples,
            "lags": self.samplers.lags,
        }


def contender_main(
    *,
    description: str,
    install: Callable[[dict[str, Any]], None],
    main: Callable[[dict[str, Any], Path], Awaitable[dict[str, Any]]],
) -> None:
    """``python -m <contender> --spec SPEC.json``: ``install(spec)`` (counters, before any client
    exists), then ``main(spec, workdir)`` in a new loop, whose result goes to ``contender.json``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--spec", type=Path, required=True)
    args = parser.parse_args()
    spec = json.loads(args.spec.read_text())
    install(spec)
    # Trigger (and task) logs would go to task logs; here they would only cost both contenders the same.
    logging.basicConfig(level=logging.WARNING)

    async def run() -> dict[str, Any]:
        return await main(spec, args.spec.parent)

    result = asyncio.run(run())
    (args.spec.parent / "contender.json").write_text(json.dumps(result))
