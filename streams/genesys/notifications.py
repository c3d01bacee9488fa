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
from streams.genesys.frames import Decoded, Encoding, Frame
from streams.genesys.payloads import Identifier
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
    SuggestionListing,
    parse_cursor,
    suggestion_topic,
)
from streams.genesys.times import iso

logger = logging.getLogger(__name__)

LIMITS_PATH = "/api/v2/organizations/limits/namespaces/notifications"
CHANNELS_PATH = "/api/v2/notifications/channels"
SUGGESTIONS_PATH = "/api/v2/conversations/{}/suggestions"

# The documented limits; an org's own limits, when published, can only lower them.
MAX_CHANNELS = 20
MAX_TOPICS_PER_CHANNEL = 1000
LIMIT_KEYS = {"channels": "max.channels", "topics": "max.topics.per.channel"}
BACKFILL_PAGE_SIZE = 200

HEARTBEAT_TOPIC = "channel.metadata"
SOCKET_CLOSING_TOPIC = "v2.system.socket_closing"
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


def plan_channels(
    conversations: list[str], kinds: list[str], *, limits: Limits, channels_free: int
) -> list[list[str]]:
    """Conversations per channel: each conversation's topics stay on one channel, so a
    conversation is added or removed with one subscription call."""
    per_conversation = len(kinds)
    if per_conversation == 0:
        raise TooManyTopics("no suggestion kinds to subscribe to")
    per_channel = limits.max_topics // per_conversation
    needed = -(-len(conversations) // per_channel) if conversations else 0
    if needed > channels_free:
        raise TooManyTopics(
            f"{len(conversations)} conversations x {per_conversation} suggestion kinds = "
            f"{len(conversations) * per_conversation} topics need {needed} channels of "
            f"{limits.max_topics} topics; {channels_free} of the OAuth client's "
            f"{limits.max_channels} channels are free (one is kept for hand-overs): "
            f"split the conversations over streams on other OAuth clients, or list fewer"
        )
    return [conversations[i : i + per_channel] for i in range(0, len(conversations), per_channel)]


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
    ):
        self.http = http
        self.tokens = tokens
        self.api = api_base_url.rstrip("/")
        self.conversations = list(conversations)
        self.kinds = list(kinds) or list(SUGGESTION_KINDS)
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
        self._first_session = True
        self._lost: asyncio.Future | None = None
        self._changes = asyncio.Lock()
        self._slot_numbers = 0

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
            if self._first_session:
                await self._backfill_from_store()
            self._lost = asyncio.get_running_loop().create_future()
            async with self._changes:
                await self._open_all(token)
            await self.handler.on_state(ClientState.CONNECTED, self._connected_note())
            await self.backfill_pending()
            return await self._lost
        except Exception as exc:
            end = self._ended(exc)
            stable = time.monotonic() - started >= self.settings.client.stable_after
            return SessionEnd(end.kind, end.detail, end.code, end.retry_after, stable)
        finally:
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
        topics = len(self.conversations) * len(self.kinds)
        note = (
            f"subscribed: {len(self.conversations)} conversations, {topics} topics on "
            f"{len(self.slots)} channel(s)"
        )
        return f"{note}; {self.limits_note}" if self.limits_note else note

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
                f"{_message(response)}): check that the conversation ids exist and that "
                f"the OAuth client may read their suggestions"
            )
        _expect(response, 200, "subscribe")

    def topics(self, conversations: list[str]) -> list[str]:
        return [suggestion_topic(c, kind) for c in conversations for kind in self.kinds]

    # Channels

    async def _open_all(self, token: str) -> None:
        free = self.budget.free(self.limits)
        plan = plan_channels(self.conversations, self.kinds, limits=self.limits, channels_free=free)
        self.budget.in_use += len(plan)
        self.slots = [self._new_slot(conversations) for conversations in plan]
        for slot in self.slots:
            await self._connect(slot)

    def _new_slot(self, conversations: list[str]) -> _Slot:
        self._slot_numbers += 1
        return _Slot(self._slot_numbers, list(conversations))

    async def _connect(self, slot: _Slot) -> None:
        """Give the slot a new channel with its topics and a connected socket; the previous
        socket, if any, is read a little longer and then closed."""
        channel = await self._create_channel()
        await self._subscribe(channel, self.topics(slot.conversations), replace=True)
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
        await self.handler.on_frame(frame)

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
            for task in list(slot.tasks):
                task.cancel()
            await asyncio.gather(*slot.tasks, return_exceptions=True)
            if slot.ws is not None:
                await slot.ws.close()

    # Conversations added and removed while running

    async def set_conversations(self, conversations: list[str]) -> None:
        """Follow a changed list of conversations with subscription calls, without a reconnect."""
        added = [c for c in conversations if c not in self.conversations]
        removed = set(self.conversations) - set(conversations)
        self.conversations = list(conversations)
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
                await self._subscribe(slot.channel, self.topics(slot.conversations), replace=True)

    async def _add(self, added: list[str]) -> None:
        room = self.limits.max_topics // len(self.kinds)
        for conversation in added:
            slot = next((s for s in self.slots if len(s.conversations) < room), None)
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

    async def backfill_pending(self) -> int:
        """Fetch what the conversations in `to_backfill` may have missed; returns how many
        suggestions were handed on (duplicates are removed downstream)."""
        handed = 0
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
        params = {"pageSize": BACKFILL_PAGE_SIZE}
        if after is not None:
            params["after"] = iso(datetime.fromtimestamp(after, UTC))
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
                handed += await self._backfilled(conversation, entity)
            path, params = listing.next_uri, None
        self.backfilled += handed
        return handed

    async def _backfilled(self, conversation: str, entity: Any) -> int:
        kind = REST_TYPES.get(entity.get("type")) if isinstance(entity, dict) else None
        if kind not in self.kinds:
            return 0
        message = {"topicName": suggestion_topic(conversation, kind), "eventBody": entity}
        frame = Frame(json.dumps(message), time.time(), Decoded(message, Encoding.TEXT))
        await self.handler.on_frame(frame)
        return 1


def _id(slot: _Slot) -> str:
    return slot.channel.id if slot.channel is not None else f"#{slot.number}"


def _expect(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise UnexpectedResponse(
            f"{what}: unexpected HTTP {response.status_code} ({_message(response)})"
        )


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "no message"
    message = body.get("message") if isinstance(body, dict) else None
    return str(message)[:300] if message else "no message"


def _parse(model: type[BaseModel], response: httpx.Response, what: str):
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise UnexpectedResponse(f"{what}: malformed answer ({exc.error_count()} errors)") from None
