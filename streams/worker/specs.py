"""What a stream runner needs, read from the database at once (sync: call through
database_sync_to_async); equal specs need no restart."""

import dataclasses
import json
from dataclasses import dataclass, field

from django.conf import settings

from streams import outbound
from streams.config import versions
from streams.config.models import StreamConfig
from streams.config.specs import ConnectionSpec, connection_spec
from streams.genesys.notifications import NotificationSettings
from streams.genesys.payloads import Filter, Subscription, build_subscription
from streams.genesys.scoring import Matrix
from streams.genesys.sessions import ClientSettings
from streams.privacy import vault
from streams.privacy.detect import DetectorConfig
from streams.privacy.models import PrivacySettings


@dataclass(frozen=True)
class StreamSpec:
    """Everything a runner needs, read from the database at once; equal specs need no restart."""

    stream_id: int
    name: str
    connection: ConnectionSpec
    subscription_id: str = ""
    interaction_ids: tuple[str, ...] = ()
    queue_ids: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()
    insight_types: tuple[str, ...] = ()
    extra_filters_json: str = "[]"
    envelope: tuple[float, float] = (0.0, 1.0)
    matrix: Matrix = field(default_factory=lambda: Matrix(default_weight=1.0))
    # How personal data is found, and whether originals are kept: a change restarts it.
    privacy: DetectorConfig = field(default_factory=DetectorConfig)
    keep_originals: bool = False
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
        return self.connection.notifications

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


def stream_spec(stream: StreamConfig, privacy: DetectorConfig | None = None) -> StreamSpec:
    """The spec of one stream (sync). A configuration that cannot run is a `problem`."""
    connection, problem = connection_spec(stream.connection)
    matrix = stream.confidence_matrix.to_matrix(versions.current(stream.confidence_matrix))
    if connection.notifications:
        problem = problem or notifications_problem(stream)
    return StreamSpec(
        stream_id=stream.pk,
        name=stream.name,
        connection=connection,
        subscription_id=stream.subscription_id,
        interaction_ids=tuple(stream.interaction_ids),
        queue_ids=tuple(stream.queue_ids) if connection.notifications else (),
        user_ids=tuple(stream.user_ids) if connection.notifications else (),
        insight_types=tuple(stream.insight_types),
        extra_filters_json=json.dumps([f.as_wire() for f in stream.filters.all()]),
        envelope=matrix.envelope(list(stream.insight_types)),
        matrix=matrix,
        privacy=privacy or PrivacySettings.current().config(),
        keep_originals=vault.keeps_originals(),
        problem=problem,
    )


def load_stream_specs() -> dict[int, StreamSpec]:
    """Specs of the enabled streams, by stream id (sync: call through database_sync_to_async)."""
    streams = (
        StreamConfig.objects.filter(enabled=True)
        .select_related("connection", "confidence_matrix")
        .prefetch_related("confidence_matrix__rules", "filters")
    )
    privacy = PrivacySettings.current().config()
    return {stream.pk: stream_spec(stream, privacy) for stream in streams}


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
        follow_linger=settings.STREAMS_FOLLOW_LINGER_SECONDS,
        client=client_settings(),
    )
