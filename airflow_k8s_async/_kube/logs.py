"""Follow a container's log while it runs; resume after a broken stream without duplicates.

The log is read with ``timestamps=true``. After a reconnect the follower asks for ``sinceTime``
(second precision on the API) and drops what it has already passed on: lines older than the
last timestamp, and as many lines carrying exactly that timestamp as it had already seen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import aiohttp

from airflow_k8s_async._kube.client import KubeClient
from airflow_k8s_async._kube.retry import backoff_delays
from airflow_k8s_async.errors import KubeApiError, KubeConnectionError, KubeNotFoundError

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024  # longer lines are cut for the task log, not dropped
_RESTREAM_PAUSE = 0.5  # between a stream that ended and the next, while the container runs


@dataclass(frozen=True, order=True)
class LogTime:
    seconds: int
    nanos: int

    def since_time(self) -> str:
        return datetime.fromtimestamp(self.seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_log_time(text: str) -> LogTime | None:
    """RFC 3339 with up to nanoseconds, as the kubelet writes it (``2026-01-02T03:04:05.123456789Z``)."""
    if not text.endswith("Z") or len(text) < 20:
        return None
    whole, _, fraction = text[:-1].partition(".")
    try:
        moment = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
        nanos = int((fraction + "000000000")[:9]) if fraction else 0
    except ValueError:
        return None
    return LogTime(int(moment.timestamp()), nanos)


@dataclass
class LogCursor:
    """How far a container's log has been passed on; survives reconnects (and can be restored)."""

    last: LogTime | None = None
    same: int = 0  # lines already passed on that carry exactly ``last``

    def since_time(self) -> str | None:
        return None if self.last is None else self.last.since_time()


class _Replay:
    """Decides, for one stream, which lines are new given the cursor at the stream's start."""

    def __init__(self, cursor: LogCursor) -> None:
        self.cursor = cursor
        self.start = cursor.last
        self.skip_equal = cursor.same

    def is_new(self, stamp: LogTime | None) -> bool:
        cursor = self.cursor
        if stamp is None:
            return True  # cannot place it; better twice than never
        if self.start is not None and stamp < self.start:
            return False
        if self.start is not None and stamp == self.start and self.skip_equal > 0:
            self.skip_equal -= 1
            return False
        if stamp == cursor.last:
            cursor.same += 1
        else:
            cursor.last, cursor.same = stamp, 1
        return True


def split_log_line(raw: bytes) -> tuple[LogTime | None, str]:
    text = raw[:MAX_LINE].decode("utf-8", errors="replace").rstrip("\r\n")
    stamp_text, _, rest = text.partition(" ")
    stamp = parse_log_time(stamp_text)
    return (stamp, rest) if stamp is not None else (None, text)


async def _lines(resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """Lines of any length (aiohttp's readline refuses very long ones)."""
    pending = bytearray()
    async for chunk in resp.content.iter_any():
        pending.extend(chunk)
        while (end := pending.find(b"\n")) >= 0:
            yield bytes(pending[: end + 1])
            del pending[: end + 1]
        if len(pending) > MAX_LINE:  # an endless line: pass on what we have, drop the rest
            yield bytes(pending[:MAX_LINE]) + b"\n"
            pending.clear()
    if pending:
        yield bytes(pending)


async def follow_container_log(
    client: KubeClient,
    *,
    namespace: str,
    pod: str,
    container: str,
    cursor: LogCursor,
    on_line: Callable[[str], None],
    finished: Callable[[], bool],
) -> None:
    """Pass each new line to ``on_line`` until the container has ended and its log is read.

    ``finished`` says whether the container has terminated (the caller knows from the watch);
    while it has not, an ended stream is opened again. Cancel the task to stop early.
    """
    path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
    delays = backoff_delays()
    while True:
        query = {
            "container": container,
            "follow": "true",
            "timestamps": "true",
            "sinceTime": cursor.since_time(),
        }
        replay = _Replay(cursor)
        try:
            async with client.stream(path, query=query) as resp:
                async for raw in _lines(resp):
                    stamp, text = split_log_line(raw)
                    if replay.is_new(stamp):
                        on_line(text)
            delays = backoff_delays()  # a stream that ended cleanly resets the backoff
            if finished():
                return
            await asyncio.sleep(_RESTREAM_PAUSE)
        except KubeNotFoundError:
            return  # the pod is gone: nothing more to read
        except KubeApiError as exc:
            if exc.status == 400 and finished():
                return  # the container ended without ever starting: there is no log
            delay = next(delays)
            log.debug("log of %s/%s[%s]: %s; again in %.1fs", namespace, pod, container, exc, delay)
            await asyncio.sleep(delay)
        except (KubeConnectionError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            # 400 "waiting to start" / "ContainerCreating" and broken streams: try again.
            delay = next(delays)
            log.debug("log of %s/%s[%s]: %s; again in %.1fs", namespace, pod, container, exc, delay)
            await asyncio.sleep(delay)
