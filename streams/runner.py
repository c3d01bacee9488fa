"""One running stream: the insights client feeding a bounded buffer that a writer drains.

The client is the seed flavour's `InsightsClient` or, for real Genesys Cloud, the
`NotificationsClient`; both report frames, states and ask for the resume point the same
way. The reader (the client's receive loop) turns each frame into a record and puts it in an
asyncio.Queue of bounded size. A writer task takes records off in batches, bounded by
size and by time, and stores each batch in one transaction. When the database falls
behind the queue fills, `put` waits, and the reader stops reading: memory stays bounded
and the server's TCP window does the rest.
"""

import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db.models import F

from streams import context, live, outbound
from streams.genesys.auth import TokenManager
from streams.genesys.backoff import Backoff
from streams.genesys.frames import Decoded, DecodeError
from streams.genesys.insights import ClientSettings, InsightsClient, StreamState
from streams.genesys.notifications import (
    NotificationsClient,
    NotificationSettings,
)
from streams.genesys.payloads import Filter, Subscription, build_subscription
from streams.genesys.scoring import Matrix
from streams.ingest import (
    BatchResult,
    Record,
    process_frame,
    process_notification,
    store_batch,
    unstorable,
)
from streams.models import GenesysConnection, StreamConfig, StreamStatus

logger = logging.getLogger(__name__)

DRAIN_TIMEOUT = 5.0


@dataclass(frozen=True)
class StreamSpec:
    """Everything a runner needs, read from the database at once; equal specs need no restart."""

    stream_id: int
    name: str
    flavour: str
    token_url: str
    api_url: str
    client_id: str
    client_secret: str = field(repr=False)
    subscription_id: str = ""
    interaction_ids: tuple[str, ...] = ()
    insight_types: tuple[str, ...] = ()
    extra_filters_json: str = "[]"
    envelope: tuple[float, float] = (0.0, 1.0)
    matrix: Matrix = field(default_factory=lambda: Matrix(default_weight=1.0))
    problem: str = ""

    def subscription(self, resume_after: str | None) -> Subscription:
        return build_subscription(
            subscription_id=self.subscription_id,
            interaction_ids=list(self.interaction_ids),
            insight_types=list(self.insight_types),
            min_confidence=self.envelope[0],
            max_confidence=self.envelope[1],
            extra_filters=json.loads(self.extra_filters_json),
            resume_after=resume_after,
        )

    @property
    def notifications(self) -> bool:
        return self.flavour == GenesysConnection.Flavour.NOTIFICATIONS

    def filters(self) -> tuple[Filter, ...]:
        return tuple(Filter.model_validate(f) for f in json.loads(self.extra_filters_json))

    def follows_live(self, other: "StreamSpec") -> bool:
        """True when `other` differs only in its conversations and a notifications runner can
        follow the change with subscription calls, without a reconnect."""
        return (
            self.notifications
            and other.interaction_ids != self.interaction_ids
            and other.problem == self.problem == ""
            and dataclasses.replace(other, interaction_ids=self.interaction_ids) == self
        )


def notifications_problem(stream: StreamConfig) -> str:
    """Why a stream cannot subscribe through the notifications flavour, or "": the model's
    own checks, for a stream saved before its connection changed flavour."""
    errors = stream.notifications_errors()
    return "cannot start: " + " ".join(errors.values()) if errors else ""


def stream_spec(stream: StreamConfig) -> StreamSpec:
    """The spec of one stream (sync). A configuration that cannot run is a `problem`."""
    connection = stream.connection
    matrix = stream.confidence_matrix.to_matrix()
    secret, problem = connection.secret_or_problem()
    if connection.flavour == GenesysConnection.Flavour.NOTIFICATIONS:
        problem = problem or notifications_problem(stream)
    return StreamSpec(
        stream_id=stream.pk,
        name=stream.name,
        flavour=connection.flavour,
        token_url=connection.token_url,
        api_url=connection.api_url,
        client_id=connection.client_id,
        client_secret=secret,
        subscription_id=stream.subscription_id,
        interaction_ids=tuple(stream.interaction_ids),
        insight_types=tuple(stream.insight_types),
        extra_filters_json=json.dumps([f.as_wire() for f in stream.filters.all()]),
        envelope=matrix.envelope(list(stream.insight_types)),
        matrix=matrix,
        problem=problem,
    )


def load_stream_specs() -> dict[int, StreamSpec]:
    """Specs of the enabled streams, by stream id (sync: call through database_sync_to_async)."""
    streams = (
        StreamConfig.objects.filter(enabled=True)
        .select_related("connection", "confidence_matrix")
        .prefetch_related("confidence_matrix__rules", "filters")
    )
    return {stream.pk: stream_spec(stream) for stream in streams}


def client_settings() -> ClientSettings:
    return ClientSettings(
        ack_timeout=settings.STREAMS_ACK_TIMEOUT_SECONDS,
        ping_interval=settings.STREAMS_PING_SECONDS,
        ping_timeout=settings.STREAMS_PING_SECONDS,
        max_message_bytes=max(16 * 1024 * 1024, settings.STREAMS_MAX_FRAME_BYTES * 4),
        backoff_base=settings.STREAMS_BACKOFF_BASE_SECONDS,
        backoff_cap=settings.STREAMS_BACKOFF_CAP_SECONDS,
        policy_backoff=settings.STREAMS_POLICY_BACKOFF_SECONDS,
        stable_after=settings.STREAMS_STABLE_SECONDS,
        host_policy=outbound.genesys_hosts(),
    )


def notification_settings() -> NotificationSettings:
    timeout = settings.STREAMS_HEARTBEAT_TIMEOUT_SECONDS
    return NotificationSettings(
        heartbeat_timeout=timeout,
        ping_interval=timeout / 3,
        rollover_before=settings.STREAMS_CHANNEL_ROLLOVER_SECONDS,
        client=client_settings(),
    )


# Status updates (sync; run through database_sync_to_async).

REPORTED_PROBLEMS = (StreamState.RECONNECTING, StreamState.SATURATED, StreamState.ERROR)


def record_state(stream_id: int, state: StreamState, detail: str, worker: str) -> None:
    """Report a state, as long as this worker still holds the stream's lease."""
    now = datetime.now(UTC)
    updates = {"state": state, "detail": detail[:500], "state_changed_at": now}
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
        self._filters = spec.filters() if spec.notifications else ()
        self.queue: asyncio.Queue[Record] = asyncio.Queue(maxsize=settings.STREAMS_BUFFER_LIMIT)
        self.batch_size = settings.STREAMS_BATCH_SIZE
        self.flush_seconds = settings.STREAMS_FLUSH_SECONDS
        self.max_frame_bytes = settings.STREAMS_MAX_FRAME_BYTES
        self.last_stored_id: str | None = None
        self.layer = get_channel_layer()

    async def run(self) -> None:
        """Run until cancelled. Raises only if the reader or the writer failed for good."""
        context.stream_name.set(self.spec.name)  # this task's log lines, and its children's
        if self.spec.problem:
            # Nothing to run until the configuration changes, which replaces this runner.
            await self.on_state(StreamState.ERROR, self.spec.problem)
            await asyncio.Event().wait()
        self.last_stored_id = await database_sync_to_async(last_event_id)(self.spec.stream_id)
        self.client = self._client()
        writer = asyncio.create_task(self._write_loop(), name=f"stream-{self.spec.name}-writer")
        reader = asyncio.create_task(self.client.run(), name=f"stream-{self.spec.name}-reader")
        try:
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await self._shutdown(writer)

    def _client(self) -> InsightsClient | NotificationsClient:
        if self.spec.notifications:
            return NotificationsClient(
                http=self.http,
                tokens=self.tokens,
                api_base_url=self.spec.api_url,
                conversations=list(self.spec.interaction_ids),
                kinds=list(self.spec.insight_types),
                handler=self,
                settings=self.notification_settings or notification_settings(),
            )
        return InsightsClient(
            http=self.http,
            tokens=self.tokens,
            api_base_url=self.spec.api_url,
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
                await asyncio.wait_for(self.queue.join(), DRAIN_TIMEOUT)
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

    # StreamHandler

    async def on_frame(
        self, raw: str | bytes, received_at: float, decoded: Decoded | DecodeError | None = None
    ) -> None:
        if decoded is None:
            record = process_frame(
                raw, received_at, matrix=self.spec.matrix, max_frame_bytes=self.max_frame_bytes
            )
        else:
            record = process_notification(
                raw,
                received_at,
                decoded,
                matrix=self.spec.matrix,
                max_frame_bytes=self.max_frame_bytes,
                filters=self._filters,
            )
        await self.queue.put(record)

    async def on_state(self, state: StreamState, detail: str = "") -> None:
        await database_sync_to_async(record_state)(self.spec.stream_id, state, detail, self.worker)

    async def resume_after(self) -> str | None:
        """The last id stored, once what is buffered has been stored."""
        try:
            await asyncio.wait_for(self.queue.join(), DRAIN_TIMEOUT)
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
