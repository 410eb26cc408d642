"""Follow a container's log while it runs; resume after a broken stream without duplicates.

The log is read with ``timestamps=true``. After a reconnect the follower asks for ``sinceTime``
(second precision on the API) and drops what it has already passed on: lines older than the
last timestamp, and as many lines carrying exactly that timestamp as it had already seen.

A stream silent for ``read_timeout`` is opened again from the cursor (a half-open connection
after a node or a load balancer dropped it sends nothing, ever); TCP keepalive on the socket finds
a dead peer sooner (``KubeClient.stream``). A line longer than MAX_LINE comes as several pieces:
only the first carries the kubelet's timestamp, and the rest follow its fate on a replay.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import aiohttp

from airflow_k8s_async._kube.client import KubeClient
from airflow_k8s_async._kube.retry import backoff_delays
from airflow_k8s_async._kube.watch import DENIED_GRACE_SECONDS
from airflow_k8s_async.errors import (
    KubeApiError,
    KubeConnectionError,
    KubeForbiddenError,
    KubeNotFoundError,
    KubeUnauthorizedError,
)

log = logging.getLogger(__name__)

MAX_LINE = 1024 * 1024  # longer lines are passed on in pieces of this size, not held whole
# A quiet container's follow stream carries nothing for as long as the container is quiet; this
# long without a byte, it is opened again from the cursor (cheap: one GET, no line twice).
READ_TIMEOUT = 300.0
_RESTREAM_PAUSE = 0.5  # between a stream that ended and the next, while the container runs


@dataclass(frozen=True, order=True)
class LogTime:
    seconds: int
    nanos: int

    def since_time(self) -> str:
        return datetime.fromtimestamp(self.seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_SECONDS: dict[str, int] = {}  # "2026-01-02T03:04:05" -> epoch seconds: a burst shares a few


def parse_log_time(text: str) -> LogTime | None:
    """RFC 3339 with up to nanoseconds, as the kubelet writes it (``2026-01-02T03:04:05.123456789Z``)."""
    if not text.endswith("Z") or len(text) < 20:
        return None
    whole, _, fraction = text[:-1].partition(".")
    seconds = _SECONDS.get(whole)
    try:
        if seconds is None:  # (strptime per line cost more than the rest of the parsing)
            moment = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
            seconds = int(moment.timestamp())
            if len(_SECONDS) >= 256:
                _SECONDS.clear()
            _SECONDS[whole] = seconds
        nanos = int((fraction + "000000000")[:9]) if fraction else 0
    except ValueError:
        return None
    return LogTime(seconds, nanos)


@dataclass
class LogCursor:
    """How far a container's log has been passed on; survives reconnects (and can be restored)."""

    last: LogTime | None = None
    same: int = 0  # lines already passed on that carry exactly ``last``

    def since_time(self) -> str | None:
        return None if self.last is None else self.last.since_time()


Piece = tuple[LogTime | None, str, bool]  # (the line's stamp, text, whether the line's first piece)


class _Replay:
    """Decides, for one stream, which lines are new given the cursor at the stream's start."""

    def __init__(self, cursor: LogCursor) -> None:
        self.cursor = cursor
        self.start = cursor.last
        self.skip_equal = cursor.same
        self.passing = True  # whether the current line (its later pieces too) is passed on

    def pass_on(self, pieces: list[Piece], on_line: Callable[[str], None]) -> None:
        for stamp, text, first in pieces:
            if first:
                self.passing = self.is_new(stamp)
            if self.passing:
                on_line(text)

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


# Container runtimes store a long line as partials of this size (docker; containerd's default
# max_container_log_line_size); with timestamps=true the kubelet writes each partial's own stamp
# in front of it, inside the line: ``STAMP part1STAMP part2...``. Those inner stamps are dropped.
PARTIAL = 16 * 1024
_STAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z ")
_STAMP_MAX = 32  # "2026-01-02T03:04:05.123456789Z "


def char_boundary(data: bytes | bytearray, cut: int) -> int:
    """``cut`` moved back (at most 3 bytes) so that it does not split a UTF-8 character."""
    back = cut
    while back > max(0, cut - 3) and data[back] & 0xC0 == 0x80:  # a continuation byte
        back -= 1
    return back if back > 0 else cut


class LogParser:
    """Splits a ``timestamps=true`` log stream into pieces ``(stamp, text, first)``: a line up to
    MAX_LINE bytes is one piece; a longer one comes as several, and only the first carries the
    line's stamp. Fed the stream's chunks as they come, cut anywhere."""

    def __init__(self) -> None:
        self._buf = bytearray()  # what was read and not yet parsed
        self._line = bytearray()  # the current line's text, stamps taken out
        self._stamp: LogTime | None = None
        self._at_start = True  # the next bytes begin a line (its stamp)
        self._first = True  # no piece of the current line was passed on yet
        self._partial: int | None = 0  # text bytes since the last stamp; None: no inner stamps

    def feed(self, data: bytes) -> list[Piece]:
        self._buf.extend(data)
        out: list[Piece] = []
        while self._step(out, ended=False):
            pass
        return out

    def end(self) -> list[Piece]:
        out: list[Piece] = []
        while self._step(out, ended=True):
            pass
        if self._line or not self._first:
            self._emit(out, len(self._line), last=True)
        return out

    def _emit(self, out: list[Piece], size: int, *, last: bool) -> None:
        text = self._line[:size].decode("utf-8", errors="replace")
        out.append((self._stamp, text.rstrip("\r") if last else text, self._first))
        del self._line[:size]
        self._first = last
        if last:
            self._at_start, self._partial = True, 0

    def _step(self, out: list[Piece], *, ended: bool) -> bool:
        """Parse what it can of the buffer; whether to call again."""
        buf = self._buf
        if not buf:
            return False
        if self._at_start:
            head = bytes(buf[:_STAMP_MAX])
            match = _STAMP.match(head)
            if match is None and len(head) < _STAMP_MAX and b"\n" not in head and not ended:
                return False  # the stamp may still be arriving
            self._stamp = parse_log_time(match.group()[:-1].decode()) if match else None
            del buf[: match.end() if match else 0]
            self._at_start, self._partial = False, (0 if match else None)
            return True
        room = len(buf) if self._partial is None else min(len(buf), PARTIAL - self._partial)
        newline = buf.find(b"\n", 0, room)
        if newline >= 0:
            self._line.extend(buf[:newline])
            del buf[: newline + 1]
            self._emit(out, len(self._line), last=True)
            return True
        self._line.extend(buf[:room])
        del buf[:room]
        if self._partial is not None:
            self._partial += room
            if self._partial == PARTIAL:  # an inner stamp may follow
                if len(buf) < _STAMP_MAX and b"\n" not in buf and not ended:
                    self._spill(out)
                    return False
                match = _STAMP.match(buf)
                del buf[: match.end() if match else 0]
                self._partial = 0 if match else None
        self._spill(out)
        return bool(buf)

    def _spill(self, out: list[Piece]) -> None:
        while len(self._line) > MAX_LINE:  # the byte after the cut is known
            self._emit(out, char_boundary(self._line, MAX_LINE), last=False)


async def follow_container_log(
    client: KubeClient,
    *,
    namespace: str,
    pod: str,
    container: str,
    cursor: LogCursor,
    on_line: Callable[[str], None],
    finished: Callable[[], bool],
    read_timeout: float = READ_TIMEOUT,
    stop_on_unauthorized: bool = False,
    on_denied: Callable[[KubeForbiddenError | None], None] | None = None,
) -> bool:
    """Pass each new line to ``on_line`` until the container has ended and its log is read.

    ``finished`` says whether the container has terminated (the caller knows from the watch);
    while it has not, an ended stream is opened again. Cancel the task to stop early. Returns
    whether the log was read to its end: False when the pod was deleted before that. A 401 that
    the client's credential reload did not cure is tried again later, or, with
    ``stop_on_unauthorized`` (credentials the caller can renew), raised. A 403 (no permission to
    read pod logs) is raised once it lasts ``DENIED_GRACE_SECONDS``, as a watch's does (an API
    server just started denies for a moment); before that it is tried again, and told to
    ``on_denied`` (a caller draining an ended container need not wait out the grace), which is
    told ``None`` once the server answers otherwise.
    """
    path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
    delays = backoff_delays()
    loop = asyncio.get_running_loop()
    denied_since: float | None = None
    while True:
        query = {
            "container": container,
            "follow": "true",
            "timestamps": "true",
            "sinceTime": cursor.since_time(),
        }
        replay = _Replay(cursor)
        parser = LogParser()
        try:
            async with client.stream(path, query=query, read_timeout=read_timeout) as resp:
                if denied_since is not None and on_denied is not None:
                    on_denied(None)
                denied_since = None
                async for chunk in resp.content.iter_any():
                    replay.pass_on(parser.feed(chunk), on_line)
                replay.pass_on(parser.end(), on_line)
            delays = backoff_delays()  # a stream that ended cleanly resets the backoff
            if finished():
                return True
            await asyncio.sleep(_RESTREAM_PAUSE)
        except aiohttp.SocketTimeoutError:
            delays = backoff_delays()  # silent for read_timeout: open it again from the cursor
            log.debug("log of %s/%s[%s]: silent for %gs; again", namespace, pod, container, read_timeout)
        except KubeNotFoundError:
            return False  # the pod is gone: nothing more to read
        except KubeApiError as exc:
            if stop_on_unauthorized and isinstance(exc, KubeUnauthorizedError):
                raise
            if isinstance(exc, KubeForbiddenError):
                denied_since = loop.time() if denied_since is None else denied_since
                if loop.time() - denied_since >= DENIED_GRACE_SECONDS:
                    raise
                if on_denied is not None:
                    on_denied(exc)
            elif denied_since is not None:  # answered otherwise: a later 403 starts a new grace
                denied_since = None
                if on_denied is not None:
                    on_denied(None)
            if exc.status == 400 and finished():
                return True  # the container ended without ever starting: there is no log
            delay = next(delays)
            if denied_since is not None:  # the last try comes as the grace ends, not a backoff later
                delay = min(delay, max(0.1, denied_since + DENIED_GRACE_SECONDS - loop.time()))
            log.debug("log of %s/%s[%s]: %s; again in %.1fs", namespace, pod, container, exc, delay)
            await asyncio.sleep(delay)
        except (KubeConnectionError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            # 400 "waiting to start" / "ContainerCreating" and broken streams: try again.
            delay = next(delays)
            log.debug("log of %s/%s[%s]: %s; again in %.1fs", namespace, pod, container, exc, delay)
            await asyncio.sleep(delay)
