"""One running stream: the insights client feeding a bounded buffer that a writer drains.

The client is the seed flavour's `InsightsClient` or, for real Genesys Cloud, the
`NotificationsClient`; both hand over frames, report states and ask for the resume point
the same way (`FrameHandler`). The reader (the client's receive loop) turns each frame into
a record and puts it in an asyncio.Queue of bounded size. A writer task takes records off in
batches, bounded by size and by time, and stores each batch in one transaction. When the
database falls behind the queue fills, `put` waits, and the reader stops reading: memory
stays bounded and the server's TCP window does the rest.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db.models import F

from assistgov.asyncdb import database_sync_to_async
from streams import context, live
from streams.genesys.auth import TokenManager
from streams.genesys.backoff import Backoff
from streams.genesys.frames import Frame
from streams.genesys.insights import InsightsClient
from streams.genesys.notifications import NotificationsClient, NotificationSettings
from streams.genesys.sessions import ClientSettings, ClientState
from streams.ingest.records import READERS, Record, process_frame, unstorable
from streams.ingest.store import BatchResult, store_batch
from streams.privacy.detect import detector_for
from streams.privacy.protect import Protector
from streams.worker.following import DatabaseFollowLog
from streams.worker.models import StreamState, StreamStatus
from streams.worker.reconciliation import Reconciler
from streams.worker.specs import StreamSpec, client_settings, notification_settings

logger = logging.getLogger(__name__)


REPORTED_PROBLEMS = (StreamState.RECONNECTING, StreamState.SATURATED, StreamState.ERROR)


def status_report(
    stream_id: int, state: StreamState, detail: str, worker: str, retry_in: float | None = None
) -> None:
    """Store a stream's state (and when the worker tries again, while it waits), as long as
    this worker still holds the stream's lease."""
    now = datetime.now(UTC)
    retry_at = now + timedelta(seconds=retry_in) if retry_in else None
    updates = {
        "state": state,
        "detail": detail[:500],
        "state_changed_at": now,
        "retry_at": retry_at if state != StreamState.CONNECTED else None,
    }
    if state in REPORTED_PROBLEMS:
        updates.update(last_error=detail[:500], last_error_at=now)
    if state is StreamState.RECONNECTING:
        updates["reconnects"] = F("reconnects") + 1
    StreamStatus.objects.filter(pk=stream_id, worker=worker).update(**updates)


def last_event_id(stream_id: int) -> str | None:
    status = StreamStatus.objects.filter(pk=stream_id).values_list("last_event_id", flat=True)
    return next(iter(status), "") or None


class StreamRunner:
    def __init__(
        self,
        spec: StreamSpec,
        *,
        http: httpx.AsyncClient,
        tokens: TokenManager,
        worker: str,
        client_settings: ClientSettings | None = None,
        notification_settings: NotificationSettings | None = None,
        on_stored: Callable[[list[int]], None] | None = None,
    ):
        self.spec = spec
        self.on_stored = on_stored
        self.http = http
        self.tokens = tokens
        self.worker = worker
        self.client_settings = client_settings
        self.notification_settings = notification_settings
        self.client: InsightsClient | NotificationsClient | None = None
        self._read = READERS[spec.connection.flavour]
        # The seed server applies a stream's extra filters; notifications are filtered here.
        self._filters = spec.filters() if spec.notifications else ()
        self.queue: asyncio.Queue[Record] = asyncio.Queue(maxsize=settings.STREAMS_BUFFER_LIMIT)
        self.batch_size = settings.STREAMS_BATCH_SIZE
        self.flush_seconds = settings.STREAMS_FLUSH_SECONDS
        self.max_frame_bytes = settings.STREAMS_MAX_FRAME_BYTES
        self.last_stored_id: str | None = None
        self.layer = get_channel_layer()
        self.reconciler = Reconciler(self)
        # Called with every record before it is queued (a reconciliation's back-fill).
        self.taps: list[Callable[[Record], None]] = []
        self.protect: Protector | None = None

    async def run(self) -> None:
        """Run until cancelled. Raises only if the reader or the writer failed for good."""
        context.stream_name.set(self.spec.name)  # this task's log lines, and its children's
        if self.spec.problem:
            # Nothing to run until the configuration changes, which replaces this runner.
            await self.on_state(StreamState.ERROR, self.spec.problem)
            await asyncio.Event().wait()
        self.last_stored_id = await database_sync_to_async(last_event_id)(self.spec.stream_id)
        self.client = self._client()
        self.protect = self._protector()
        writer = asyncio.create_task(self._write_loop(), name=f"stream-{self.spec.name}-writer")
        reader = asyncio.create_task(self.client.run(), name=f"stream-{self.spec.name}-reader")
        helpers = []
        if self.spec.notifications:
            helpers.append(
                asyncio.create_task(
                    self.reconciler.run(), name=f"stream-{self.spec.name}-reconciler"
                )
            )
        try:
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in (reader, *helpers):
                task.cancel()
            await asyncio.gather(reader, *helpers, return_exceptions=True)
            await self._shutdown(writer)

    def _protector(self) -> Protector:
        """Personal data taken out of every frame, as the spec's detection says; the names
        of the participants of conversations the client follows, too."""
        client = self.client
        names = (
            (lambda conversation: client.participants.get(conversation, ()))
            if isinstance(client, NotificationsClient)
            else (lambda conversation: ())
        )
        return Protector(detector_for(self.spec.privacy), self.spec.keep_originals, names)

    def _client(self) -> InsightsClient | NotificationsClient:
        if self.spec.notifications:
            return NotificationsClient(
                http=self.http,
                tokens=self.tokens,
                api_base_url=self.spec.connection.api_url,
                conversations=list(self.spec.interaction_ids),
                kinds=list(self.spec.insight_types),
                handler=self,
                settings=self.notification_settings or notification_settings(),
                queues=list(self.spec.queue_ids),
                users=list(self.spec.user_ids),
                follow_log=DatabaseFollowLog(self.spec.stream_id, self.spec.name, self.worker),
            )
        return InsightsClient(
            http=self.http,
            tokens=self.tokens,
            api_base_url=self.spec.connection.api_url,
            subscription=self.spec.subscription,
            handler=self,
            settings=self.client_settings or client_settings(),
        )

    async def follow(self, spec: StreamSpec) -> None:
        """Take a spec that differs only in its conversations (see `follows_live`)."""
        self.spec = spec
        if isinstance(self.client, NotificationsClient):
            await self.client.set_conversations(list(spec.interaction_ids))

    async def _shutdown(self, writer: asyncio.Task) -> None:
        """Store what is buffered, then report the stream stopped."""
        try:
            if not writer.done():
                async with asyncio.timeout(settings.STREAMS_DRAIN_SECONDS):
                    await self.queue.join()
        except TimeoutError:
            logger.warning(
                "stream %s: %d buffered records not stored at shutdown; they will be "
                "received again on resume",
                self.spec.name,
                self.queue.qsize(),
            )
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        await self.on_state(StreamState.STOPPED, "stopped")

    # FrameHandler

    async def on_frame(self, frame: Frame) -> None:
        record = process_frame(
            frame,
            read=self._read,
            matrix=self.spec.matrix,
            max_frame_bytes=self.max_frame_bytes,
            filters=self._filters,
            protect=self.protect,
        )
        for tap in self.taps:
            tap(record)
        await self.queue.put(record)

    async def on_state(
        self, state: ClientState | StreamState, detail: str = "", retry_in: float | None = None
    ) -> None:
        await database_sync_to_async(status_report)(
            self.spec.stream_id, StreamState(state), detail, self.worker, retry_in
        )
        await live.announce_health(self.layer)

    async def resume_after(self) -> str | None:
        """The last id stored, once what is buffered has been stored."""
        try:
            async with asyncio.timeout(settings.STREAMS_DRAIN_SECONDS):
                await self.queue.join()
        except TimeoutError:
            logger.warning("stream %s: resuming before the buffer drained", self.spec.name)
        return self.last_stored_id

    # Writer

    async def _write_loop(self) -> None:
        while True:
            batch = await self._collect()
            result = await self._store(batch)
            if result.last_event_id:
                self.last_stored_id = result.last_event_id
            for _ in batch:
                self.queue.task_done()
            if result.created_ids:
                await live.announce_insights(self.layer, result.created_ids)
                if self.on_stored is not None:
                    self.on_stored(result.created_ids)

    async def _store(self, batch: list[Record]) -> BatchResult:
        """Store a batch, waiting out database outages; nothing received is dropped.

        A batch that fails for another reason (a row the database refuses) is stored one
        record at a time, and a record that still fails is quarantined with the error.
        """
        retry = Backoff(base=0.5, cap=10.0)
        store = database_sync_to_async(store_batch)
        while True:
            try:
                return await store(self.spec.stream_id, batch)
            except (OperationalError, InterfaceError) as exc:
                delay = retry.next_delay()
                logger.error(
                    "stream %s: database unavailable, a batch of %d waits (%s); retrying in %.1f s",
                    self.spec.name,
                    len(batch),
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
            except Exception:
                logger.exception(
                    "stream %s: a batch of %d failed; storing one by one",
                    self.spec.name,
                    len(batch),
                )
                return await self._store_one_by_one(batch)

    async def _store_one_by_one(self, batch: list[Record]) -> BatchResult:
        store = database_sync_to_async(store_batch)
        total = BatchResult()
        for record in batch:
            try:
                result = await store(self.spec.stream_id, [record])
            except (OperationalError, InterfaceError):
                raise
            except Exception as exc:
                result = await store(self.spec.stream_id, [unstorable(record, exc)])
            total.created_ids += result.created_ids
            total.last_event_id = result.last_event_id or total.last_event_id
        return total

    async def _collect(self) -> list[Record]:
        batch = [await self.queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.flush_seconds
        while len(batch) < self.batch_size:
            while len(batch) < self.batch_size and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            remaining = deadline - loop.time()
            if len(batch) >= self.batch_size or remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    batch.append(await self.queue.get())
            except TimeoutError:
                break
        return batch
