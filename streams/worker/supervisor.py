"""The stream worker's core: keeps one runner task per enabled stream, matching the DB.

`reconcile` is the one step: read the enabled streams, stop runners whose stream was
disabled or changed, start runners for streams that have none. It runs when nudged
(a config change was committed) and every STREAMS_RECONCILE_SECONDS, so a lost nudge
only delays a change.
"""

import asyncio
import io
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from django.conf import settings

from assistgov.asyncdb import database_sync_to_async
from streams import outbound, ports
from streams.genesys.auth import TokenPool
from streams.worker import leases
from streams.worker.models import StreamState, StreamStatus
from streams.worker.runner import StreamRunner
from streams.worker.specs import StreamSpec, load_stream_specs

logger = logging.getLogger(__name__)

# Beyond the drain a stopping runner is allowed: time to record its final state.
STOP_GRACE_SECONDS = 10.0


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def mark_idle_streams_stopped(running_ids: list[int]) -> int:
    """Streams no runner here runs, still reported as running, are shown as stopped."""
    return (
        StreamStatus.objects.exclude(pk__in=running_ids)
        .exclude(state=StreamState.STOPPED)
        .filter(stream__enabled=False)
        .update(state=StreamState.STOPPED, detail="disabled")
    )


@dataclass
class Running:
    """A stream this worker runs: the spec it was started with, its runner and its task."""

    spec: StreamSpec
    runner: StreamRunner
    task: asyncio.Task


class StreamSupervisor:
    def __init__(
        self,
        *,
        worker_id: str | None = None,
        reconcile_seconds: float | None = None,
        lease_seconds: float | None = None,
        on_insights: Callable[[list[int]], None] | None = None,
    ):
        self.worker_id = worker_id or default_worker_id()
        self.on_insights = on_insights  # given the ids of every batch of new insights
        self.reconcile_seconds = reconcile_seconds or settings.STREAMS_RECONCILE_SECONDS
        self.lease_seconds = lease_seconds or settings.STREAMS_LEASE_SECONDS
        self.running: dict[int, Running] = {}
        self.http: httpx.AsyncClient | None = None
        self._tokens = TokenPool()
        self._nudged = asyncio.Event()
        self._stopping = False

    def nudge(self) -> None:
        self._nudged.set()

    def stop(self) -> None:
        self._stopping = True
        self._nudged.set()

    async def run(self) -> None:
        logger.info("stream worker %s started", self.worker_id)
        # Leases are renewed at every reconcile, so it runs at least three times per lease.
        interval = min(self.reconcile_seconds, self.lease_seconds / 3)
        async with outbound.http_client(
            outbound.genesys_hosts(), timeout=httpx.Timeout(15.0)
        ) as http:
            self.http = http
            try:
                nudged = False
                while not self._stopping:
                    await self.reconcile()
                    if nudged:  # an admin may have asked for a reconciliation with Genesys
                        for running in self.running.values():
                            running.runner.reconciler.wake()
                    try:
                        async with asyncio.timeout(interval):
                            await self._nudged.wait()
                        nudged = True
                    except TimeoutError:
                        nudged = False
                    self._nudged.clear()
            finally:
                await self.stop_all()
                await self._database(leases.retire, self.worker_id)
        logger.info("stream worker %s stopped", self.worker_id)

    async def reconcile(self) -> None:
        try:
            specs = await database_sync_to_async(load_stream_specs)()
            alive = await database_sync_to_async(leases.heartbeat)(
                self.worker_id, self.lease_seconds
            )
            share = leases.fair_share(len(specs), alive)
            held = await database_sync_to_async(leases.claim)(
                self.worker_id, list(specs), self.lease_seconds, share
            )
        except Exception:
            logger.exception(
                "reconcile: cannot read streams or leases; keeping streams as they are"
            )
            return
        # Beyond its fair share (another worker joined), a worker hands streams back.
        surplus = set(sorted(held, reverse=True)[: max(0, len(held) - share)])
        restarts, released = set(), set(surplus)
        for stream_id, running in list(self.running.items()):
            spec = running.spec
            if running.task.done():
                await self._stop_runner(stream_id, "its runner ended with an error")
                restarts.add(stream_id)
            elif stream_id not in specs:
                await self._stop_runner(stream_id, "disabled")
                released.add(stream_id)
            elif stream_id not in held:
                await self._stop_runner(stream_id, "its lease passed to another worker")
            elif stream_id in surplus:
                await self._stop_runner(stream_id, "handed to another worker to share the load")
            elif spec.follows_live(specs[stream_id]):
                await self._follow(running, specs[stream_id])
            elif specs[stream_id] != spec:
                await self._stop_runner(stream_id, "configuration changed")
                restarts.add(stream_id)
        await self._database(leases.release, self.worker_id, released)
        for stream_id in sorted(held - surplus):
            if stream_id in specs and stream_id not in self.running and not self._stopping:
                reason = "restarted" if stream_id in restarts else "enabled"
                await self._start_runner(specs[stream_id], reason)
        await self._database(mark_idle_streams_stopped, list(self.running))

    async def _follow(self, running: Running, spec: StreamSpec) -> None:
        logger.info("stream %s: conversations changed; following without a reconnect", spec.name)
        running.spec = spec
        await running.runner.follow(spec)

    async def _database(self, function, *args) -> None:
        try:
            await database_sync_to_async(function)(*args)
        except Exception:
            logger.exception("stream worker %s: %s failed", self.worker_id, function.__name__)

    async def _start_runner(self, spec: StreamSpec, reason: str) -> None:
        logger.info(
            "stream %s: starting on worker %s (%s): %s",
            spec.name,
            self.worker_id,
            spec.connection.api_url,
            reason,
        )
        runner = StreamRunner(
            spec,
            http=self.http,
            tokens=spec.connection.tokens(self._tokens, self.http),
            worker=self.worker_id,
            on_stored=self.on_insights,
        )
        task = asyncio.create_task(runner.run(), name=f"stream-{spec.name}")
        task.add_done_callback(self._runner_done)
        self.running[spec.stream_id] = Running(spec, runner, task)
        await self._report(spec, "start", reason)

    async def _report(self, spec: StreamSpec, event: str, reason: str) -> None:
        """An audit entry for the stream's start or stop; never stops the worker itself."""
        try:
            await database_sync_to_async(ports.governance().stream_run_changed)(
                stream_id=spec.stream_id,
                stream_name=spec.name,
                event=event,
                reason=reason,
                worker=self.worker_id,
            )
        except Exception:
            logger.exception("stream %s: could not record its %s", spec.name, event)

    def _runner_done(self, task: asyncio.Task) -> None:
        # The next periodic reconcile restarts it; restarting at once could spin.
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s ended with an error", task.get_name(), exc_info=task.exception())

    async def _stop_runner(self, stream_id: int, reason: str) -> None:
        running = self.running.pop(stream_id)
        spec = running.spec
        logger.info("stream %s: stopping on worker %s: %s", spec.name, self.worker_id, reason)
        running.task.cancel()
        bound = settings.STREAMS_DRAIN_SECONDS + STOP_GRACE_SECONDS
        done, _ = await asyncio.wait({running.task}, timeout=bound)
        if not done:
            waiting = io.StringIO()
            running.task.print_stack(file=waiting)
            logger.warning(
                "stream %s did not stop within %.0f s; it is still waiting here:\n%s",
                spec.name,
                bound,
                waiting.getvalue(),
            )
        await self._report(spec, "stop", reason)

    async def stop_all(self) -> None:
        await asyncio.gather(
            *(self._stop_runner(sid, "the worker is shutting down") for sid in list(self.running))
        )
