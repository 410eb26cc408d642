"""JobSetHub: one GetJobSetEvents stream per (server, queue, job set) per process, fanned out.

Every trigger waiting on a job of the same job set shares one watching stream. The stream keeps
the latest update per job, so a trigger that subscribes late gets its job's state at once. After
a break it resumes from the last message id (nothing is replayed twice, nothing is lost). When
it keeps failing (``fallback_after`` attempts in a row without a message), the hub asks
GetJobStatus for all its waiting jobs in one call per ``poll_interval`` while it keeps trying to
open the stream again. A stream without subscribers lingers a little, then closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import grpc.aio

from airflow_k8s_async._armada.channel import ChannelSpec
from airflow_k8s_async._armada.client import ArmadaClient, armada_error
from airflow_k8s_async._armada.states import JobUpdate, event_update
from airflow_k8s_async._kube.detached import detached_task
from airflow_k8s_async._kube.perloop import PerLoop
from airflow_k8s_async._kube.retry import backoff_delays
from airflow_k8s_async.errors import ArmadaError

log = logging.getLogger(__name__)

StreamKey = tuple[ChannelSpec, str, str]  # (server, queue, job set)
# What no retry fixes (bad credentials, no such queue): the waiting triggers fail with it, as the
# Kubernetes watch hub fails its subscribers on 401/403.
PERMANENT_ATTEMPTS = 2  # calls refused so in a row before the waiting triggers fail
PERMANENT_CODES = frozenset(
    {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.NOT_FOUND}
)


@dataclass(frozen=True)
class HubSettings:
    linger: float = 10.0
    fallback_after: int = 5  # stream attempts in a row that brought nothing
    poll_interval: float = 30.0  # GetJobStatus period while the stream fails
    reconnect_delays: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
    # A stream silent this long is opened again from its last message: a proxy that lost its
    # upstream can keep ours open (and answer its pings) while nothing comes through, ever.
    idle_reopen: float = 300.0


class Subscription:
    """Updates of one job, in order; the first is its latest known state, if any."""

    def __init__(self, stream: JobSetStream, job_id: str) -> None:
        self.stream = stream
        self.job_id = job_id
        self.queue: asyncio.Queue[JobUpdate | ArmadaError] = asyncio.Queue()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> JobUpdate:
        """The next update; raises the stream's :class:`ArmadaError` once it failed for good."""
        item = await self.queue.get()
        if isinstance(item, ArmadaError):
            self.queue.put_nowait(item)  # and again on every later call
            raise item
        return item


class JobSetStream:
    """The shared stream of one job set and the jobs waiting on it."""

    def __init__(self, *, client: ArmadaClient, queue: str, job_set_id: str, settings: HubSettings) -> None:
        self.client = client
        self.queue = queue
        self.job_set_id = job_set_id
        self.settings = settings
        self.last_message_id = ""
        self.latest: dict[str, JobUpdate] = {}
        self.subscriptions: dict[str, set[Subscription]] = {}
        self.opened = 0  # GetJobSetEvents calls made
        self.degraded = False  # polling GetJobStatus while the stream fails
        self._task: asyncio.Task[None] | None = None
        self._linger: asyncio.TimerHandle | None = None
        self.closed = asyncio.Event()
        self.error: ArmadaError | None = None  # failed for good: a new subscriber opens a new stream

    def describe(self) -> str:
        return f"job set {self.queue}/{self.job_set_id} on {self.client.spec.target}"

    # -- subscribers ------------------------------------------------------------------------
    def add(self, job_id: str) -> Subscription:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        sub = Subscription(self, job_id)
        self.subscriptions.setdefault(job_id, set()).add(sub)
        if job_id in self.latest:
            sub.queue.put_nowait(self.latest[job_id])
        if self.error is not None:
            sub.queue.put_nowait(self.error)
        if self._task is None:
            # Its lines (a broken stream) go to the triggerer's log, not one trigger's task log.
            self._task = detached_task(self._run(), name=f"armada {self.describe()}")
        return sub

    def remove(self, sub: Subscription) -> None:
        subs = self.subscriptions.get(sub.job_id, set())
        subs.discard(sub)
        if not subs:
            self.subscriptions.pop(sub.job_id, None)
        if not self.subscriptions and self._linger is None:
            self._linger = asyncio.get_running_loop().call_later(self.settings.linger, self._close_if_idle)

    def _close_if_idle(self) -> None:
        self._linger = None
        if not self.subscriptions:
            self.close()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.closed.set()

    # -- updates ----------------------------------------------------------------------------
    def _publish(self, update: JobUpdate) -> None:
        known = self.latest.get(update.job_id)
        if known is not None and known.terminal:
            return  # a job's end is final; later events (e.g. a late cancel) change nothing
        merged = update if known is None else known.merged(update)
        self.latest[update.job_id] = merged
        for sub in self.subscriptions.get(update.job_id, ()):
            sub.queue.put_nowait(merged)

    def _fail(self, error: ArmadaError) -> None:
        log.warning("Armada event stream of %s failed for good: %s", self.describe(), error)
        self.error = error
        for subs in self.subscriptions.values():
            for sub in subs:
                sub.queue.put_nowait(error)
        self.closed.set()

    async def _run(self) -> None:
        refused = 0
        while True:
            try:
                await self._follow()
            except ArmadaError as exc:  # a permanent gRPC error: retrying cannot help...
                refused += 1
                if refused >= PERMANENT_ATTEMPTS:
                    self._fail(exc)
                    return
                # ...except once: a token that expired a moment ago is fetched anew per call.
                log.info("Armada refused the event stream of %s (%s); asking once more", self.describe(), exc)
                await asyncio.sleep(self.settings.reconnect_delays[0])

    async def _follow(self) -> None:
        delays = backoff_delays(delays=self.settings.reconnect_delays)
        failures = 0
        while True:
            got = await self._stream_once()
            if got:
                failures, delays = 0, backoff_delays(delays=self.settings.reconnect_delays)
                if self.degraded:
                    self.degraded = False
                    log.info("Armada event stream of %s is back", self.describe())
            else:
                failures += 1
            if failures >= self.settings.fallback_after:
                if not self.degraded:
                    self.degraded = True
                    log.warning(
                        "Armada event stream of %s failed %d times in a row: asking GetJobStatus every %gs "
                        "until it works again",
                        self.describe(),
                        failures,
                        self.settings.poll_interval,
                    )
                await self._poll()
                await asyncio.sleep(self.settings.poll_interval)
            else:
                await asyncio.sleep(next(delays))

    async def _stream_once(self) -> bool:
        """One GetJobSetEvents call from the last message id; whether it worked: brought a message,
        or stayed open and silent for ``idle_reopen``."""
        got = False
        self.opened += 1
        call = self.client.job_set_events(
            queue=self.queue, job_set_id=self.job_set_id, from_message_id=self.last_message_id
        )
        messages = aiter(call)
        try:
            while True:
                try:
                    message = await asyncio.wait_for(anext(messages), self.settings.idle_reopen)
                except StopAsyncIteration:
                    log.debug("Armada event stream of %s ended; resuming", self.describe())
                    break
                except asyncio.TimeoutError:
                    log.debug(
                        "Armada event stream of %s silent for %gs; opening it again",
                        self.describe(),
                        self.settings.idle_reopen,
                    )
                    return True
                got = True
                self.last_message_id = message.id
                update = event_update(message)
                if update is not None:
                    self._publish(update)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in PERMANENT_CODES:
                raise armada_error(exc, "GetJobSetEvents") from exc
            log.info(
                "Armada event stream of %s broke (%s); resuming from message %r",
                self.describe(),
                exc.code().name if exc.code() is not None else "?",
                self.last_message_id,
            )
        finally:
            cancel = getattr(call, "cancel", None)
            if cancel is not None:
                cancel()
        return got

    async def _poll(self) -> None:
        waiting = [
            job for job in self.subscriptions if not (job in self.latest and self.latest[job].terminal)
        ]
        if not waiting:
            return
        try:
            states = await self.client.job_status(waiting)
        except ArmadaError as exc:
            if exc.code in {code.name for code in PERMANENT_CODES}:
                raise
            log.warning("GetJobStatus for %s failed: %s", self.describe(), exc)
            return
        for job_id, state in states.items():
            known = self.latest.get(job_id)
            if known is None or known.state != state:
                self._publish(JobUpdate(job_id=job_id, state=state))


class JobSetHub:
    """The process's shared job-set streams, per event loop."""

    def __init__(self, settings: HubSettings | None = None) -> None:
        self.settings = settings or HubSettings()
        self.streams: dict[StreamKey, JobSetStream] = {}

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        *,
        client: ArmadaClient,
        queue: str,
        job_set_id: str,
        job_id: str,
        settings: HubSettings | None = None,
    ) -> AsyncIterator[Subscription]:
        key = (client.spec, queue, job_set_id)
        stream = self.streams.get(key)
        if stream is None or stream.closed.is_set():
            stream = JobSetStream(
                client=client, queue=queue, job_set_id=job_set_id, settings=settings or self.settings
            )
            self.streams[key] = stream
        sub = stream.add(job_id)
        try:
            yield sub
        finally:
            stream.remove(sub)

    def open_streams(self) -> int:
        return sum(1 for stream in self.streams.values() if not stream.closed.is_set())

    async def close(self) -> None:
        tasks = [stream._task for stream in self.streams.values() if stream._task is not None]
        for stream in self.streams.values():
            stream.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.streams.clear()


HUBS: PerLoop[None, JobSetHub] = PerLoop("Armada job-set hubs", close=JobSetHub.close, order=0)


def get_job_set_hub(settings: HubSettings | None = None) -> JobSetHub:
    """The running loop's hub (created with ``settings`` on first use)."""
    return HUBS.get_now(None, lambda: JobSetHub(settings))


async def close_job_set_hub() -> None:
    await HUBS.close()
