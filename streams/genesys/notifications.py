"""Real Genesys Cloud: agent-assist suggestions over the notifications API (PROTOCOL.md
section 2).

A stream's conversations and suggestion kinds become topics
(`v2.conversations.{id}.suggestions.{kind}`), spread over channels of at most 1,000 topics,
one WebSocket per channel. The notifications service queues nothing while a socket is
down, so every gap is closed from the REST listing of each conversation's suggestions,
and duplicates (the overlap of two sockets, or of a socket and a back-fill) are removed
downstream by `suggestionId`.

Keeping a channel alive:
- the server sends a heartbeat about every 30 s and answers a client ping with a pong;
  no frame at all for `heartbeat_timeout` means the socket is dead;
- `v2.system.socket_closing` and the 24 h channel expiry are met the same way: a new
  channel with the same topics is opened and connected before the old one goes, and the
  events both deliver meanwhile are deduplicated;
- `no_longer_subscribed` (the channel lost its topics) is met by a new channel and a
  back-fill of its conversations; `token_revoked` ends the session with a new token.
"""

import asyncio
import contextlib
import json
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
)
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from streams.genesys import rest
from streams.genesys.auth import TokenManager
from streams.genesys.backoff import Backoff
from streams.genesys.errors import GenesysError, PermissionDenied, UnexpectedResponse
from streams.genesys.following import (
    AGGREGATES_PATH,
    AggregateResponse,
    Followed,
    FollowLog,
    MemoryFollowLog,
    conversations_query,
)
from streams.genesys.frames import Decoded, Encoding, Frame
from streams.genesys.payloads import Identifier
from streams.genesys.resolve import Resolver
from streams.genesys.rest import error_message
from streams.genesys.sessions import (
    ClientSettings,
    ClientState,
    Ending,
    FrameHandler,
    ReconnectPlan,
    SessionEnd,
    open_socket,
    reconnect_forever,
    session_failed,
)
from streams.genesys.suggestions import (
    REST_TYPES,
    SUGGESTION_KINDS,
    AvailableTopics,
    ConversationEvent,
    SuggestionListing,
    offered_names,
    parse_cursor,
    suggestion_topic,
    topic_kind,
    watch_of,
    watch_topics,
)
from streams.genesys.summaries import SUMMARIES_PATH, SUMMARY_SUFFIX, SUMMARY_TYPE, summary_topic
from streams.genesys.times import iso

logger = logging.getLogger(__name__)

LIMITS_PATH = "/api/v2/organizations/limits/namespaces/notifications"
CHANNELS_PATH = "/api/v2/notifications/channels"
SUGGESTIONS_PATH = "/api/v2/conversations/{}/suggestions"
TOPICS_PATH = "/api/v2/notifications/availabletopics"

# The documented limits; an org's own limits, when published, can only lower them.
MAX_CHANNELS = 20
MAX_TOPICS_PER_CHANNEL = 1000
LIMIT_KEYS = {"channels": "max.channels", "topics": "max.topics.per.channel"}
BACKFILL_PAGE_SIZE = 200

HEARTBEAT_TOPIC = "channel.metadata"
SOCKET_CLOSING_TOPIC = "v2.system.socket_closing"
PARTICIPANTS_KEPT = 10_000  # conversations whose participants' names are remembered
TOKEN_REVOKED = "token_revoked"  # noqa: S105  (a message name, not a secret)
NO_LONGER_SUBSCRIBED = "no_longer_subscribed"
PING = json.dumps({"message": "ping"})

# Channels


class TooManyTopics(GenesysError):
    """The conversations and kinds need more topics than the channels allowed can carry."""


@dataclass(frozen=True)
class Limits:
    max_channels: int = MAX_CHANNELS
    max_topics: int = MAX_TOPICS_PER_CHANNEL


def capacity(kinds: int, *, limits: Limits, channels: int, watches: int = 0) -> int:
    """How many conversations `channels` channels carry, the first one also carrying the
    `watches` queue and agent topics."""
    if channels < 1:
        return 0
    if kinds == 0:
        return 10**9  # conversations without topics (summaries only): no limit
    per_channel = limits.max_topics // kinds
    first = max(0, limits.max_topics - watches) // kinds
    return first + (channels - 1) * per_channel


def plan_channels(
    conversations: list[str],
    kinds: list[str],
    *,
    limits: Limits,
    channels_free: int,
    watches: int = 0,
) -> list[list[str]]:
    """Conversations per channel: each conversation's topics stay on one channel, so a
    conversation is added or removed with one subscription call. The first channel also
    carries the `watches` queue and agent topics."""
    per_conversation = len(kinds)
    if watches > limits.max_topics:
        raise TooManyTopics(
            f"{watches} queue and agent topics do not fit a channel of {limits.max_topics}"
        )
    if per_conversation == 0:  # summaries only: the queue and agent topics, no more
        if not watches:
            raise TooManyTopics("no suggestion kinds, queues or agents to subscribe to")
        if channels_free < 1:
            raise TooManyTopics("no channel is free for the queue and agent topics")
        return [list(conversations)]
    per_channel = limits.max_topics // per_conversation
    first = (limits.max_topics - watches) // per_conversation
    needed = 0
    if conversations or watches:
        needed = 1 + max(0, -(-(len(conversations) - first) // per_channel))
    if needed > channels_free:
        raise TooManyTopics(
            f"{len(conversations)} conversations x {per_conversation} suggestion kinds = "
            f"{len(conversations) * per_conversation} topics"
            + (f" and {watches} queue and agent topics" if watches else "")
            + f" need {needed} channels of "
            f"{limits.max_topics} topics; {channels_free} of the OAuth client's "
            f"{limits.max_channels} channels are free (one is kept for hand-overs): "
            f"split the conversations over streams on other OAuth clients, or list fewer"
        )
    if not needed:
        return []
    plan = [conversations[:first]]
    rest = conversations[first:]
    plan += [rest[i : i + per_channel] for i in range(0, len(rest), per_channel)]
    return plan


class ChannelBudget:
    """The channels one OAuth client uses in this process, across its streams.

    One channel stays free for hand-overs, which take turns (`handover`), because a 21st
    channel would evict the client's oldest, which may be one in use.
    """

    def __init__(self):
        self.in_use = 0
        self.handover = asyncio.Lock()

    def free(self, limits: Limits) -> int:
        return max(0, limits.max_channels - 1 - self.in_use)


_budgets: "weakref.WeakKeyDictionary[TokenManager, ChannelBudget]" = weakref.WeakKeyDictionary()


def channel_budget(tokens: TokenManager) -> ChannelBudget:
    if tokens not in _budgets:
        _budgets[tokens] = ChannelBudget()
    return _budgets[tokens]


# Payloads


class Channel(BaseModel):
    connect_uri: str = Field(alias="connectUri", min_length=1)
    id: Identifier
    expires: datetime | None = None


class Limit(BaseModel):
    key: str
    namespace: str | None = None
    value: int


class LimitListing(BaseModel):
    entities: list[Limit] = Field(default_factory=list)

    def limits(self) -> Limits:
        values = {limit.key: limit.value for limit in self.entities}
        channels = values.get(LIMIT_KEYS["channels"], MAX_CHANNELS)
        topics = values.get(LIMIT_KEYS["topics"], MAX_TOPICS_PER_CHANNEL)
        return Limits(
            max_channels=max(1, min(channels, MAX_CHANNELS)),
            max_topics=max(1, min(topics, MAX_TOPICS_PER_CHANNEL)),
        )


# The client


@dataclass(frozen=True)
class NotificationSettings:
    heartbeat_timeout: float = 40.0
    ping_interval: float = 15.0
    # Roll a channel over this long before it expires (it lives 24 h).
    rollover_before: float = 3600.0
    # A back-fill starts this much before the last moment known to be covered.
    backfill_overlap: float = 60.0
    # How long a replaced socket is still read after its successor is connected.
    handover_grace: float = 2.0
    # A followed conversation that ended is unsubscribed this long after (late suggestions).
    follow_linger: float = 300.0
    client: ClientSettings = field(default_factory=ClientSettings)


class ChannelLost(GenesysError):
    """A channel's socket died (dropped, silent, unsubscribed): the session ends."""


class _TokenRevoked(GenesysError):
    pass


@dataclass(eq=False)
class _Slot:
    """One channel's share of the conversations, and the socket that currently serves it."""

    number: int
    conversations: list[str]
    watches: list[str] = field(default_factory=list)  # queue and agent topics
    channel: Channel | None = None
    ws: ClientConnection | None = None
    token: str = field(default="", repr=False)
    rollover: asyncio.Task | None = None
    subscribed_at: float = 0.0
    last_frame_at: float = 0.0  # wall clock: the socket was alive until then
    last_event_at: float = 0.0
    tasks: set = field(default_factory=set)


class NotificationsClient:
    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        tokens: TokenManager,
        api_base_url: str,
        conversations: list[str],
        kinds: list[str],
        handler: FrameHandler,
        settings: NotificationSettings | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        queues: list[str] = (),
        users: list[str] = (),
        follow_log: FollowLog | None = None,
    ):
        self.http = http
        self.tokens = tokens
        self.api = api_base_url.rstrip("/")
        # Subscribed: the listed conversations, then the followed ones.
        self.listed = list(conversations)
        self.conversations = list(conversations)
        # Summaries come with the suggestion kinds unless the kinds are listed without them.
        self.summaries = not kinds or SUMMARY_TYPE in kinds
        listed_kinds = [k for k in kinds if k != SUMMARY_TYPE]
        # The kinds asked for; those the org offers are subscribed (`kinds`), each under the
        # topic name its `availabletopics` lists (`topic_names`).
        self.wanted_kinds = listed_kinds if kinds else list(SUGGESTION_KINDS)
        self.kinds = list(self.wanted_kinds)
        self.topic_names: dict[str, str] = {}
        self.topics_note = ""
        self.resolver = Resolver(self._request)
        self.queues, self.users = list(queues), list(users)
        self.watches = watch_topics(self.queues, self.users)
        if self.summaries:
            self.watches += [summary_topic(user) for user in self.users]
        self.follow_log = follow_log or MemoryFollowLog()
        self.followed: dict[str, Followed] = {}  # by conversation, oldest first
        # Each followed conversation's participants' names, as its events gave them.
        self.participants: dict[str, tuple[str, ...]] = {}
        self.follow_events: asyncio.Queue = asyncio.Queue()
        self.budget_full = False
        # Wall clock since when conversation events may have been missed (no socket).
        self.watch_gap_since: float | None = None
        self.follow_note = ""
        self.handler = handler
        self.settings = settings or NotificationSettings()
        client = self.settings.client
        self.planner = ReconnectPlan(
            client, Backoff(base=client.backoff_base, cap=client.backoff_cap)
        )
        self.sleep = sleep
        self.budget = channel_budget(tokens)
        self.limits = Limits()
        self.limits_note = ""
        self.slots: list[_Slot] = []
        self.channels_opened = 0
        self.backfilled = 0
        # Conversations whose events may be missing, and since when (wall clock).
        self.to_backfill: dict[str, float | None] = {}
        # Conversations not subscribed whose listing is fetched whole, once.
        self.backfill_once: dict[str, None] = {}
        self.summaries_refused = False
        # Ended conversations let go early (others waited for room): when each ended.
        self.late: dict[str, float] = {}
        self._first_session = True
        self._lost: asyncio.Future | None = None
        self._changes = asyncio.Lock()
        self._slot_numbers = 0
        self._session_tasks: list[asyncio.Task] = []
        self._budget_filled = asyncio.Event()
        self._backfilling = asyncio.Lock()

    @property
    def where(self) -> str:
        return f"notifications {self.api}"

    async def run(self) -> None:
        await reconnect_forever(self.handler, self.session, self.planner, self.where, self.sleep)

    async def session(self) -> SessionEnd:
        started = time.monotonic()
        try:
            token = await self.tokens.token()
            self.limits = await self.fetch_limits(token)
            await self.confirm_topics()
            if self._first_session:
                await self._restore_followed()
                await self._backfill_from_store()
            self._lost = asyncio.get_running_loop().create_future()
            async with self._changes:
                await self._open_all(token)
            await self.handler.on_state(ClientState.CONNECTED, self._connected_note())
            await self.backfill_pending()
            if self.watches:
                self._session_tasks = [
                    asyncio.create_task(self._follow_loop(), name=f"{self.where} follow"),
                    asyncio.create_task(self._sweep_loop(), name=f"{self.where} sweep"),
                ]
                for task in self._session_tasks:
                    task.add_done_callback(self._task_done)
                await self._discover_gap()
            return await self._lost
        except Exception as exc:
            end = self._ended(exc)
            stable = time.monotonic() - started >= self.settings.client.stable_after
            return SessionEnd(end.kind, end.detail, end.code, end.retry_after, stable)
        finally:
            for task in self._session_tasks:
                task.cancel()
            await asyncio.gather(*self._session_tasks, return_exceptions=True)
            self._session_tasks = []
            await self._close_all()

    def _ended(self, exc: Exception) -> SessionEnd:
        if isinstance(exc, TooManyTopics):
            return SessionEnd(Ending.REFUSED, f"cannot subscribe: {exc}")
        if isinstance(exc, _TokenRevoked):
            return SessionEnd(Ending.TOKEN_REJECTED, str(exc))
        if isinstance(exc, ChannelLost):
            return SessionEnd(Ending.CLOSED, str(exc))
        return session_failed(exc, self.where)

    def _connected_note(self) -> str:
        topics = len(self.conversations) * len(self.kinds) + len(self.watches)
        note = (
            f"subscribed: {len(self.conversations)} conversations, {topics} topics on "
            f"{len(self.slots)} channel(s)"
        )
        if self.watches:
            waiting = sum(f.waiting for f in self.followed.values())
            note += (
                f"; following {_count(len(self.queues), 'queue')} and "
                f"{_count(len(self.users), 'agent')}: "
                f"{len(self.followed) - waiting} conversations followed"
                + (f", {waiting} waiting for room" if waiting else "")
            )
        notes = [n for n in (self.follow_note, self.limits_note, self.topics_note) if n]
        return "; ".join([note, *notes])

    # REST

    async def _request(self, method: str, path: str, *, what: str, **kwargs) -> httpx.Response:
        token = await self.tokens.token()
        url = path if path.startswith("http") else self.api + path
        response = await rest.send(
            lambda: self.http.request(
                method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs
            ),
            what=what,
        )
        if response.status_code == 401:
            self.tokens.invalidate(token)
            raise _TokenRevoked(f"{what}: token refused (HTTP 401)")
        if response.status_code == 403:
            raise PermissionDenied(
                f"{what}: permission denied (HTTP 403) on {method} {path.split('?')[0]}: "
                f"give the OAuth client's role the permission Genesys lists for this endpoint"
            )
        return response

    async def fetch_limits(self, token: str) -> Limits:
        """The org's channel and topic limits; Genesys' documented ones when the org does not
        publish them, or when the OAuth client may not read them (Genesys lists no permission
        for this endpoint, so a refusal is said, not fatal)."""
        self.limits_note = ""
        try:
            response = await self._request("GET", LIMITS_PATH, what="notifications limits")
        except PermissionDenied:
            self.limits_note = (
                f"the org's limits could not be read (HTTP 403 on GET {LIMITS_PATH}); "
                f"using Genesys' documented {MAX_CHANNELS} channels of {MAX_TOPICS_PER_CHANNEL} "
                "topics"
            )
            logger.warning("%s: %s", self.where, self.limits_note)
            return Limits()
        if response.status_code == 404:
            return Limits()
        _expect(response, 200, "notifications limits")
        return _parse(LimitListing, response, "notifications limits").limits()

    async def confirm_topics(self) -> None:
        """Which suggestion kinds this org offers over WebSocket, and under which topic name
        (`GET /api/v2/notifications/availabletopics`, KIND_TOPICS): a kind it does not offer
        is named on the stream page and not subscribed. When the list cannot be read, the
        first names are subscribed and that is said."""
        try:
            response = await self._request(
                "GET", TOPICS_PATH, what="available topics", params={"expand": "transports"}
            )
        except PermissionDenied as exc:
            response, refused = None, str(exc)
        if response is None or response.status_code != 200:
            why = refused if response is None else f"HTTP {response.status_code}"
            self.topics_note = f"topic names not confirmed with the org ({why})"
            self.topic_names, self.kinds = {}, list(self.wanted_kinds)
            return
        offered = _parse(AvailableTopics, response, "available topics").websocket_templates()
        names, missing = offered_names(self.wanted_kinds, offered)
        self.topic_names = names
        self.kinds = [k for k in self.wanted_kinds if k in names]
        self.topics_note = (
            f"not offered by this org over WebSocket, so not subscribed: {', '.join(missing)}"
            if missing
            else ""
        )
        if missing:
            logger.warning("%s: %s", self.where, self.topics_note)

    async def _create_channel(self) -> Channel:
        response = await self._request("POST", CHANNELS_PATH, what="create channel")
        _expect(response, 200, "create channel")
        self.channels_opened += 1
        return _parse(Channel, response, "create channel")

    async def _subscribe(self, channel: Channel, topics: list[str], *, replace: bool) -> None:
        method = "PUT" if replace else "POST"
        response = await self._request(
            method,
            f"{CHANNELS_PATH}/{quote(channel.id, safe='')}/subscriptions",
            what="subscribe",
            json=[{"id": topic} for topic in topics],
        )
        if response.status_code == 400:
            raise PermissionDenied(
                f"Genesys rejected the topics of channel {channel.id} (HTTP 400: "
                f"{error_message(response)}): check that the conversation ids exist and that "
                f"the OAuth client may read their suggestions"
            )
        _expect(response, 200, "subscribe")

    def topics(self, conversations: list[str]) -> list[str]:
        return [
            suggestion_topic(c, kind, self.topic_names.get(kind))
            for c in conversations
            for kind in self.kinds
        ]

    def slot_topics(self, slot: _Slot) -> list[str]:
        return slot.watches + self.topics(slot.conversations)

    def _room(self, slot: _Slot) -> int:
        if not self.kinds:
            return 10**9
        return (self.limits.max_topics - len(slot.watches)) // len(self.kinds)

    # Channels

    async def _open_all(self, token: str) -> None:
        free = self.budget.free(self.limits)
        watches = len(self.watches)
        # Followed conversations beyond what the free channels carry wait (newest first).
        # The oldest followed conversations take the room the listed ones leave; the rest
        # wait (and those that waited take room that has appeared since).
        room = capacity(len(self.kinds), limits=self.limits, channels=free, watches=watches)
        room -= len(self.listed)
        listed = set(self.listed)
        ordered = [c for c in self.followed if c not in listed]
        for place, conversation in enumerate(ordered):
            followed = self.followed[conversation]
            if place >= room and not followed.waiting:
                await self._wait_for_room(followed)
            elif place < room and followed.waiting:
                followed.waiting = False
                await self.follow_log.save(followed)
                self.to_backfill[conversation] = None
        await self._room_again()
        self.conversations = self.listed + self._subscribed_followed()
        plan = plan_channels(
            self.conversations, self.kinds, limits=self.limits, channels_free=free, watches=watches
        )
        self.budget.in_use += len(plan)
        self.slots = [self._new_slot(conversations) for conversations in plan]
        if self.slots:
            self.slots[0].watches = list(self.watches)
        for slot in self.slots:
            await self._connect(slot)

    def _new_slot(self, conversations: list[str]) -> _Slot:
        self._slot_numbers += 1
        return _Slot(self._slot_numbers, list(conversations))

    async def _connect(self, slot: _Slot) -> None:
        """Give the slot a new channel with its topics and a connected socket; the previous
        socket, if any, is read a little longer and then closed."""
        channel = await self._create_channel()
        await self._subscribe(channel, self.slot_topics(slot), replace=True)
        token = await self.tokens.token()  # the channel's: invalidated if Genesys revokes it
        try:
            # The channel, made with the token, is the credential: Genesys' own clients (a
            # browser WebSocket cannot send headers) open its socket without one, and so
            # does this one, so the token does not travel to the streaming host.
            ws = await open_socket(channel.connect_uri, None, self._socket_settings())
        except InvalidStatus as exc:
            raise ChannelLost(
                f"channel {channel.id}: handshake refused (HTTP {exc.response.status_code})"
            ) from None
        previous, rollover = slot.ws, slot.rollover
        slot.channel, slot.ws, slot.token = channel, ws, token
        slot.subscribed_at = slot.last_frame_at = time.time()
        self._start(slot, self._read(slot, ws), f"read {channel.id}")
        self._start(slot, self._ping(ws), f"ping {channel.id}")
        slot.rollover = self._start(slot, self._roll_over(slot, channel), f"roll {channel.id}")
        if rollover is not None and rollover is not asyncio.current_task():
            rollover.cancel()
        if previous is not None:
            self._start(slot, self._retire(previous), "retire")

    def _socket_settings(self) -> ClientSettings:
        # The notifications service has its own heartbeat; the watchdog reads it.
        client = self.settings.client
        return ClientSettings(
            open_timeout=client.open_timeout,
            close_timeout=client.close_timeout,
            ping_interval=None,
            ping_timeout=None,
            max_message_bytes=client.max_message_bytes,
        )

    def _start(self, slot: _Slot, coroutine, name: str) -> asyncio.Task:
        task = asyncio.create_task(coroutine, name=f"{self.where} {name}")
        slot.tasks.add(task)
        task.add_done_callback(slot.tasks.discard)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is None:
            return
        self._lose(task.exception())

    def _lose(self, exc: BaseException) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_exception(exc)

    async def _retire(self, ws: ClientConnection) -> None:
        await asyncio.sleep(self.settings.handover_grace)
        await ws.close()

    async def hand_over(self, slot: _Slot, why: str) -> None:
        """A new channel for the slot, connected before the old one goes: no gap."""
        logger.info("%s: channel %s: %s; handing over to a new channel", self.where, _id(slot), why)
        async with self.budget.handover:
            await self._connect(slot)

    async def _read(self, slot: _Slot, ws: ClientConnection) -> None:
        timeout = self.settings.heartbeat_timeout
        while True:
            try:
                async with asyncio.timeout(timeout):
                    raw = await ws.recv()
            except TimeoutError:
                if slot.ws is not ws:
                    return
                raise ChannelLost(
                    f"channel {_id(slot)}: no heartbeat for {timeout:g} s: the socket is dead"
                ) from None
            except ConnectionClosed as exc:
                if slot.ws is not ws:
                    return  # replaced: its successor carries on
                code = exc.rcvd.code if exc.rcvd is not None else 1006
                raise ChannelLost(f"channel {_id(slot)}: socket closed ({code})") from None
            received_at = time.time()
            if slot.ws is ws:
                slot.last_frame_at = received_at
            await self._dispatch(slot, ws, raw, received_at)

    async def _dispatch(self, slot: _Slot, ws: ClientConnection, raw, received_at: float) -> None:
        frame = Frame(raw, received_at)
        decoded = frame.decoded
        if not isinstance(decoded, Decoded):
            await self.handler.on_frame(frame)
            return
        message = decoded.payload
        topic = message.get("topicName")
        body = message.get("eventBody")
        note = body.get("message") if isinstance(body, dict) else None
        if topic == SOCKET_CLOSING_TOPIC:
            if slot.ws is ws:
                self._start(slot, self.hand_over(slot, "the server is closing the socket"), "hand")
            return
        if topic == HEARTBEAT_TOPIC or message.get("message") == "pong":
            if note == TOKEN_REVOKED:
                self.tokens.invalidate(slot.token)
                raise _TokenRevoked(f"channel {_id(slot)}: the token was revoked")
            if note == NO_LONGER_SUBSCRIBED and slot.ws is ws:
                self._missed(slot, slot.last_event_at or slot.subscribed_at)
                self._start(slot, self._resubscribe(slot), "resubscribe")
            return
        slot.last_event_at = received_at
        watch = watch_of(topic) if isinstance(topic, str) else None
        if watch is not None:
            self.follow_events.put_nowait((watch, body, received_at))
            return
        await self.handler.on_frame(await self._resolved(frame, message))

    async def _resolved(self, frame: Frame, message: dict) -> Frame:
        """A canned response's or a script's suggestion with what its ids stand for."""
        topic, body = message.get("topicName"), message.get("eventBody")
        parsed = topic_kind(topic) if isinstance(topic, str) else None
        if parsed is None or not isinstance(body, dict) or body.get("engagementType"):
            return frame
        enriched = await self.resolver.enrich(parsed[1], body)
        if enriched is body:
            return frame
        message = {**message, "eventBody": enriched}
        return Frame(json.dumps(message), frame.received_at, Decoded(message, Encoding.TEXT))

    async def _resubscribe(self, slot: _Slot) -> None:
        await self.hand_over(slot, "the channel is no longer subscribed")
        await self.backfill_pending()

    async def _ping(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.settings.ping_interval)
            try:
                await ws.send(PING)
            except ConnectionClosed:
                return

    async def _roll_over(self, slot: _Slot, channel: Channel) -> None:
        if channel.expires is None:
            return
        lifetime = (channel.expires - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(max(lifetime / 2, lifetime - self.settings.rollover_before))
        if slot.channel is channel:
            await self.hand_over(slot, f"the channel expires at {iso(channel.expires)}")

    async def _close_all(self) -> None:
        slots, self.slots = self.slots, []
        self.budget.in_use -= len(slots)
        for slot in slots:
            if slot.ws is not None:
                self._missed(slot, slot.last_frame_at)  # until the next session back-fills
                if slot.watches:
                    since = slot.last_frame_at
                    gap = self.watch_gap_since
                    self.watch_gap_since = since if gap is None else min(gap, since)
            for task in list(slot.tasks):
                task.cancel()
            await asyncio.gather(*slot.tasks, return_exceptions=True)
            if slot.ws is not None:
                await slot.ws.close()

    # Conversations added and removed while running

    async def set_conversations(self, conversations: list[str]) -> None:
        """Follow a changed list of conversations with subscription calls, without a reconnect."""
        added = [c for c in conversations if c not in self.conversations]
        removed = set(self.listed) - set(conversations) - set(self._subscribed_followed())
        self.listed = list(conversations)
        self.conversations = self.listed + [
            c for c in self._subscribed_followed() if c not in self.listed
        ]
        for conversation in removed:
            self.to_backfill.pop(conversation, None)
        if not self.slots:
            self.to_backfill.update(dict.fromkeys(added))
            return  # the next session subscribes to the new list
        try:
            async with self._changes:
                await self._remove(removed)
                await self._add(added)
        except Exception as exc:
            self._lose(exc)
            return
        await self.handler.on_state(ClientState.CONNECTED, self._connected_note())
        self.to_backfill.update(dict.fromkeys(added))
        await self.backfill_pending()

    async def _remove(self, removed: set[str]) -> None:
        for slot in self.slots:
            if removed & set(slot.conversations):
                slot.conversations = [c for c in slot.conversations if c not in removed]
                await self._subscribe(slot.channel, self.slot_topics(slot), replace=True)

    def _has_room(self) -> bool:
        return self.budget.free(self.limits) > 0 or any(
            len(s.conversations) < self._room(s) for s in self.slots
        )

    async def _add(self, added: list[str]) -> None:
        for conversation in added:
            slot = next((s for s in self.slots if len(s.conversations) < self._room(s)), None)
            if slot is None:
                if self.budget.free(self.limits) < 1:
                    raise TooManyTopics(
                        f"conversation {conversation} needs a new channel and none is free"
                    )
                self.budget.in_use += 1
                slot = self._new_slot([conversation])
                self.slots.append(slot)
                await self._connect(slot)
                continue
            slot.conversations.append(conversation)
            await self._subscribe(slot.channel, self.topics([conversation]), replace=False)

    # Following queues and agents (streams/genesys/following.py)

    def _subscribed_followed(self) -> list[str]:
        listed = set(self.listed)
        return [c for c, f in self.followed.items() if not f.waiting and c not in listed]

    async def _restore_followed(self) -> None:
        """At start: the conversations followed before (a restart, another worker's)."""
        if not self.watches:
            return
        for followed in sorted(await self.follow_log.load(), key=lambda f: f.started):
            self.followed[followed.conversation] = followed
        self.conversations = self.listed + self._subscribed_followed()
        waiting = [c for c, f in self.followed.items() if f.waiting]
        self.backfill_once.update(dict.fromkeys(waiting))  # they may have ended meanwhile

    async def _follow_loop(self) -> None:
        """Conversation events, one at a time, in the order they came."""
        while True:
            (what, ident), body, received_at = await self.follow_events.get()
            await self._on_conversation(what, ident, body, received_at)

    def _note_participants(self, conversation: str, event: ConversationEvent) -> None:
        """The participants' names, for the conversation's texts to be cleaned of them (the
        oldest conversations are forgotten past PARTICIPANTS_KEPT)."""
        names = tuple(sorted({p.name.strip() for p in event.participants if p.name}))
        if not names:
            return
        self.participants.pop(conversation, None)
        self.participants[conversation] = names
        while len(self.participants) > PARTICIPANTS_KEPT:
            self.participants.pop(next(iter(self.participants)))

    async def _on_conversation(self, what: str, ident: str, body, received_at: float) -> None:
        try:
            event = ConversationEvent.model_validate(body)
        except ValidationError as exc:
            logger.warning(
                "%s: a %s's conversation event was not understood (%d errors); ignored",
                self.where,
                what,
                exc.error_count(),
            )
            return
        conversation = event.id
        self._note_participants(conversation, event)
        if conversation in self.listed:
            return
        known = self.followed.get(conversation)
        if event.ended:
            if known is None or known.waiting:
                # Seen only as it ends (it started before the stream watched, or while no
                # socket was open), or never subscribed (no room): everything it said is in
                # its listing; late suggestions and its summary are fetched after the linger.
                if known is not None:
                    await self.follow_log.forget([conversation])
                    del self.followed[conversation]
                self.backfill_once[conversation] = None
                self.late[conversation] = received_at
            elif known.ended is None:
                known.ended = received_at
                await self.follow_log.save(known)
            await self.backfill_pending()
            return
        if known is not None:
            return  # a change (a transfer, a new participant): already followed
        via = f"{'agent' if what == 'user' else what} {ident}"
        followed = Followed(conversation, via, received_at)
        self.followed[conversation] = followed
        async with self._changes:
            if self._has_room():
                await self._add([conversation])
                self.conversations.append(conversation)
                await self.follow_log.save(followed)
                self.to_backfill[conversation] = None  # everything it said before
            else:
                await self._wait_for_room(followed)
        await self.handler.on_state(ClientState.CONNECTED, self._connected_note())
        await self.backfill_pending()

    async def _wait_for_room(self, followed: Followed) -> None:
        followed.waiting = True
        self.followed[followed.conversation] = followed
        await self.follow_log.save(followed)
        logger.info(
            "%s: conversation %s waits for room on the channels", self.where, followed.conversation
        )
        if not self.budget_full:
            self.budget_full = True
            self._budget_filled.set()
            kinds = len(self.kinds)
            self.follow_note = (
                f"channels full: {len(self.conversations)} conversations x {kinds} suggestion "
                f"kinds + {len(self.watches)} queue and agent topics on {len(self.slots)} "
                f"channel(s) of {self.limits.max_topics} topics, none of the OAuth client's "
                f"{self.limits.max_channels} channels free (one is kept for hand-overs); new "
                f"conversations wait, the oldest keep their place, and each waiting one is "
                f"back-filled when room frees or when it ends"
            )
            await self.follow_log.note(self.follow_note)

    async def _sweep_loop(self) -> None:
        """Unsubscribe conversations that ended `follow_linger` ago; give their room to the
        oldest waiting ones."""
        linger = self.settings.follow_linger
        while True:
            # While conversations wait for room, ended ones give theirs within a second.
            interval = 1.0 if self.budget_full else max(0.05, min(linger / 4, 30.0))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._budget_filled.wait()
            self._budget_filled.clear()
            await self.sweep(time.time() - linger)

    async def sweep(self, ended_before: float) -> None:
        """Let go of the conversations that ended before `ended_before`; while others wait
        for room, of every one that ended, its late suggestions fetched from its listing
        when its linger is over."""
        someone_waits = any(f.waiting for f in self.followed.values())
        done = [
            c
            for c, f in self.followed.items()
            if not f.waiting and f.ended is not None and (someone_waits or f.ended <= ended_before)
        ]
        for conversation in done:
            ended = self.followed[conversation].ended
            if ended > ended_before:
                self.late[conversation] = ended
            else:
                await self.fetch_summaries(conversation)
        for conversation, ended in list(self.late.items()):
            if ended <= ended_before:
                await self.backfill(conversation, ended - self.settings.backfill_overlap)
                await self.fetch_summaries(conversation)
                del self.late[conversation]
        promoted: list[str] = []
        async with self._changes:
            if done:
                await self._remove(set(done))
                gone = set(done)
                self.conversations = [c for c in self.conversations if c not in gone]
                for conversation in done:
                    del self.followed[conversation]
                    self.to_backfill.pop(conversation, None)
                await self.follow_log.forget(done)
            for conversation, followed in list(self.followed.items()):
                if not followed.waiting or not self._has_room():
                    continue
                await self._add([conversation])
                followed.waiting = False
                self.conversations.append(conversation)
                await self.follow_log.save(followed)
                self.to_backfill[conversation] = None
                promoted.append(conversation)
            await self._room_again()
        if done or promoted:
            await self.handler.on_state(ClientState.CONNECTED, self._connected_note())
            await self.backfill_pending()

    async def fetch_summaries(self, conversation: str) -> int:
        """The conversation's summaries from REST (`GET .../summaries`), handed on as frames:
        what a conversation followed through a queue said, once it was wrapped up (a summary
        also seen on an agent's topic is dropped downstream by its id)."""
        if not self.summaries:
            return 0
        path = SUMMARIES_PATH.format(quote(conversation, safe=""))
        try:
            response = await self._request("GET", path, what="conversation summaries")
        except PermissionDenied as exc:
            if not self.summaries_refused:
                self.summaries_refused = True
                logger.warning("%s: summaries not captured: %s", self.where, exc)
            return 0
        if response.status_code == 404:
            return 0
        _expect(response, 200, "conversation summaries")
        try:
            body = response.json()
        except ValueError:
            raise UnexpectedResponse("conversation summaries: malformed answer") from None
        if not isinstance(body, dict):
            raise UnexpectedResponse("conversation summaries: not an object")
        found = [body.get("summary"), *(body.get("sessionSummaries") or [])]
        handed = 0
        for summary in found:
            if not isinstance(summary, dict) or summary.get("status") not in (None, "Completed"):
                continue
            message = {
                "topicName": f"v2.conversations.{conversation}{SUMMARY_SUFFIX}",
                "eventBody": {**summary, "conversation": {"id": conversation}},
            }
            frame = Frame(json.dumps(message), time.time(), Decoded(message, Encoding.TEXT))
            await self.handler.on_frame(frame)
            handed += 1
        return handed

    async def copilot_counts(self, start: float, end: float) -> dict[tuple[str, str], int]:
        """Genesys' count of this stream's suggestions between two wall clock times, per
        (conversation, kind) (the kinds this stream subscribes to). Raises PermissionDenied
        without `analytics:agentCopilotAggregate:view`."""
        query = conversations_query(
            self.queues, self.users, start, end, conversations=self.listed, by_type=True
        )
        response = await self._request(
            "POST", AGGREGATES_PATH, what="Copilot aggregates", json=query
        )
        _expect(response, 200, "Copilot aggregates")
        counts = _parse(AggregateResponse, response, "Copilot aggregates")
        found: dict[tuple[str, str], int] = {}
        for (conversation, kind_name), count in counts.by_conversation_and_type().items():
            kind = REST_TYPES.get(kind_name)
            if kind in self.kinds:
                found[(conversation, kind)] = found.get((conversation, kind), 0) + count
        return found

    async def _room_again(self) -> None:
        if self.budget_full and not any(f.waiting for f in self.followed.values()):
            self.budget_full = False
            self.follow_note = ""
            await self.follow_log.note(
                "channels have room again: every conversation in the followed queues and "
                "agents is subscribed"
            )

    async def _discover_gap(self) -> None:
        """Conversations that may have started and ended while no socket was open: Genesys'
        Copilot aggregates count suggestions by conversation; each unknown one is
        back-filled. Refused (no permission `analytics:agentCopilotAggregate:view`): said."""
        since = self.watch_gap_since
        if since is None:
            return
        start = since - self.settings.backfill_overlap
        query = conversations_query(self.queues, self.users, start, time.time())
        try:
            response = await self._request(
                "POST", AGGREGATES_PATH, what="Copilot aggregates", json=query
            )
        except PermissionDenied as exc:
            self.follow_note = (
                f"conversations that started and ended while disconnected cannot be found: {exc}"
            )
            await self.handler.on_state(ClientState.CONNECTED, self._connected_note())
            return
        _expect(response, 200, "Copilot aggregates")
        found = _parse(AggregateResponse, response, "Copilot aggregates").conversations()
        self.watch_gap_since = None
        unknown = [c for c in found if c not in self.conversations and c not in self.followed]
        if unknown:
            logger.info(
                "%s: %d conversations had suggestions while disconnected; back-filling them",
                self.where,
                len(unknown),
            )
        self.backfill_once.update(dict.fromkeys(unknown))
        await self.backfill_pending()

    # Back-fill

    def _missed(self, slot: _Slot, since: float) -> None:
        """The slot's conversations may miss events from `since` on (wall clock)."""
        for conversation in slot.conversations:
            known = self.to_backfill.get(conversation, since)
            self.to_backfill[conversation] = since if known is None else min(known, since)

    async def _backfill_from_store(self) -> None:
        """At start: every conversation, after the last event time stored before."""
        self._first_session = False
        cursor = parse_cursor(await self.handler.resume_after())
        if cursor is not None:
            for conversation in self.conversations:
                self.to_backfill.setdefault(conversation, cursor.timestamp())
            if self.watches:
                self.watch_gap_since = cursor.timestamp()

    async def backfill_pending(self) -> int:
        """Fetch what the conversations in `to_backfill` may have missed; returns how many
        suggestions were handed on (duplicates are removed downstream)."""
        handed = 0
        async with self._backfilling:  # the follower, the sweep and a session may all ask
            for conversation in list(self.backfill_once):
                handed += await self.backfill(conversation, None)
                self.backfill_once.pop(conversation, None)
            for conversation, since in list(self.to_backfill.items()):
                if conversation not in self.conversations:
                    continue
                after = None if since is None else since - self.settings.backfill_overlap
                handed += await self.backfill(conversation, after)
                if self.to_backfill.get(conversation, 0) == since:
                    del self.to_backfill[conversation]
        if handed:
            logger.info("%s: back-filled %d suggestions", self.where, handed)
        return handed

    async def backfill(self, conversation: str, after: float | None) -> int:
        """The conversation's suggestions from its REST listing, paged by Genesys' opaque
        cursors (`nextUri`); those created before `after` (wall clock) are skipped here,
        the rest handed on (duplicates are removed downstream)."""
        params = {"pageSize": BACKFILL_PAGE_SIZE}
        since = None if after is None else datetime.fromtimestamp(after, UTC)
        path = SUGGESTIONS_PATH.format(quote(conversation, safe=""))
        handed = 0
        while path:
            response = await self._request("GET", path, what="suggestions back-fill", params=params)
            if response.status_code == 404:
                logger.info(
                    "%s: conversation %s has no suggestions (404)", self.where, conversation
                )
                return handed
            _expect(response, 200, "suggestions back-fill")
            listing = _parse(SuggestionListing, response, "suggestions back-fill")
            for entity in listing.entities:
                if since is None or not _created_before(entity, since):
                    handed += await self._backfilled(conversation, entity)
            path, params = listing.next_uri, None
        self.backfilled += handed
        return handed

    async def _backfilled(self, conversation: str, entity: Any) -> int:
        """One listing entity handed on as its kind's topic event would be; an entity of a
        type this table does not know is handed on under that type (and quarantined with
        the reason downstream), never dropped unrecorded."""
        if not isinstance(entity, dict):
            return 0
        kind_name = entity.get("type")
        kind = REST_TYPES.get(kind_name)
        if kind is None:
            kind = str(kind_name or "untyped").lower()[:64]
        elif kind not in self.wanted_kinds:
            return 0
        else:
            entity = await self.resolver.enrich(kind, entity)
        topic = suggestion_topic(conversation, kind, self.topic_names.get(kind, kind))
        message = {"topicName": topic, "eventBody": entity}
        frame = Frame(json.dumps(message), time.time(), Decoded(message, Encoding.TEXT))
        await self.handler.on_frame(frame)
        return 1


def _created_before(entity: Any, since: datetime) -> bool:
    created = parse_cursor(entity.get("dateCreated")) if isinstance(entity, dict) else None
    return created is not None and created < since


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _id(slot: _Slot) -> str:
    return slot.channel.id if slot.channel is not None else f"#{slot.number}"


def _expect(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise UnexpectedResponse(
            f"{what}: unexpected HTTP {response.status_code} ({error_message(response)})"
        )


def _parse(model: type[BaseModel], response: httpx.Response, what: str):
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise UnexpectedResponse(f"{what}: malformed answer ({exc.error_count()} errors)") from None
