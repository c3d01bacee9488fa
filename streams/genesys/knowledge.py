"""Real-time knowledge search (seed flavour, PROTOCOL.md section 1.3): payloads, validation
and the client that runs queries over one WebSocket.

A query ends exactly once: answered, refused by the server (its code and message), timed
out, or lost with its connection. Its slot in the limiter is released exactly once, by the
context manager that took it, whatever way it ends.
"""

import asyncio
import logging
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from streams.genesys.auth import TokenManager
from streams.genesys.backoff import Backoff
from streams.genesys.errors import GenesysError
from streams.genesys.frames import DecodeError, decode_frame
from streams.genesys.insights import (
    CLOSE_ABNORMAL,
    CLOSE_POLICY,
    CLOSE_TOKEN_EXPIRED,
    ClientSettings,
    ClientState,
    Ending,
    ReconnectPlan,
    SessionEnd,
    handshake_refused,
    open_socket,
    session_failed,
)
from streams.genesys.regions import websocket_url
from streams.genesys.times import parse_time

logger = logging.getLogger(__name__)

KNOWLEDGE_PATH = "/api/v2/agent-assist/real-time"
MESSAGE_SUBSCRIBE = "SUBSCRIBE"
MESSAGE_RESPONSE = "KNOWLEDGE_SEARCH_RESPONSE"
MESSAGE_ERROR = "ERROR"
# A query in flight when its socket drops is sent once more on the next socket.
MAX_ATTEMPTS = 2
QUERY_TEXT_LIMIT = 500


# Payloads


class KnowledgeSourceRef(BaseModel):
    knowledge_base_id: str = Field(min_length=1, max_length=128)
    priority: int = Field(ge=1, le=10)


def printable_id(value: str) -> str:
    """An id a person reads back (in logs, the admin, CSV): control characters could split a
    line or hide text there, so they are refused."""
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError("control characters are not allowed in an id")
    return value


class SearchRequest(BaseModel):
    """Seed 2's SUBSCRIBE message, with `queryId` so answers correlate."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    message_type: str = Field(default=MESSAGE_SUBSCRIBE, alias="messageType")
    query_id: str | None = Field(default=None, alias="queryId", max_length=128)
    conversation_id: str = Field(alias="conversationId", min_length=1, max_length=128)
    query_text: str = Field(alias="queryText", min_length=2, max_length=QUERY_TEXT_LIMIT)
    knowledge_sources: list[KnowledgeSourceRef] = Field(alias="knowledgeSources", min_length=1)
    max_results: int = Field(default=5, ge=1, le=20, alias="maxResults")
    confidence_threshold: float = Field(
        default=0.75, ge=0.0, le=1.0, alias="confidenceThreshold", allow_inf_nan=False
    )
    language: str = Field(default="en-US", min_length=2, max_length=35)

    @field_validator("conversation_id")
    @classmethod
    def printable(cls, value: str) -> str:
        return printable_id(value)

    @field_validator("query_text", mode="before")
    @classmethod
    def stripped(cls, value: Any) -> Any:
        # The bounds apply to the text after stripping, so "  a " is too short.
        return value.strip() if isinstance(value, str) else value

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)


# Validation of results


class Outcome(StrEnum):
    PASSED = "passed"
    BELOW_CONFIDENCE = "below_confidence"
    STALE = "stale"
    MISSING_LAST_UPDATED = "missing_last_updated"
    UNPARSEABLE_LAST_UPDATED = "unparseable_last_updated"
    MALFORMED = "malformed"

    @property
    def label(self) -> str:
        """What a person reads."""
        return {
            "passed": "Passed",
            "below_confidence": "Below the minimum confidence",
            "stale": "Too old",
            "missing_last_updated": "No last-updated date",
            "unparseable_last_updated": "Unreadable last-updated date",
            "malformed": "Malformed",
        }[self.value]

    @classmethod
    def label_of(cls, value: str) -> str:
        return cls(value).label if value in cls._value2member_map_ else value


class Governance(StrEnum):
    PASS = "PASS"  # noqa: S105  (a status, not a password)
    FILTERED = "FILTERED"


@dataclass(frozen=True)
class Rules:
    """What a result must meet to reach an agent."""

    confidence_threshold: float
    freshness_days: int
    priorities: dict[str, int]  # knowledge base id -> priority, 1 first


@dataclass(frozen=True)
class CheckedResult:
    document_id: str
    title: str
    snippet: str
    url: str
    knowledge_base_id: str
    confidence: float | None
    last_updated: str
    outcome: Outcome
    reason: str
    rank: int | None = None
    version_id: str = ""
    variation_id: str = ""

    def as_dict(self) -> dict:
        return {
            "document_id": self.document_id,
            "title": self.title,
            "snippet": self.snippet,
            "url": self.url,
            "knowledge_base_id": self.knowledge_base_id,
            "confidence": self.confidence,
            "last_updated": self.last_updated,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "rank": self.rank,
            "version_id": self.version_id,
            "variation_id": self.variation_id,
        }


def check_results(results: list, rules: Rules, *, now: datetime | None = None) -> list:
    """Every result with its outcome and reason; passed ones first, ranked by knowledge-source
    priority, then confidence (highest first)."""
    now = now or datetime.now(UTC)
    checked = [_check(result, rules, now) for result in results]
    passed = sorted(
        (c for c in checked if c.outcome is Outcome.PASSED),
        key=lambda c: (rules.priorities.get(c.knowledge_base_id, 11), -(c.confidence or 0.0)),
    )
    ranked = [_with_rank(c, rank) for rank, c in enumerate(passed, start=1)]
    return ranked + [c for c in checked if c.outcome is not Outcome.PASSED]


def governance_status(checked: list[CheckedResult]) -> Governance:
    passed = any(c.outcome is Outcome.PASSED for c in checked)
    return Governance.PASS if passed else Governance.FILTERED


def top_confidence(checked: list[CheckedResult]) -> float | None:
    """The best passed result's confidence; with none passed, the best result's; else None."""
    passed = [c.confidence for c in checked if c.outcome is Outcome.PASSED]
    scored = passed or [c.confidence for c in checked if c.confidence is not None]
    return max(scored, default=None)


def _check(result: Any, rules: Rules, now: datetime) -> CheckedResult:
    if not isinstance(result, dict):
        return _checked({}, None, Outcome.MALFORMED, "the result is not a JSON object")
    confidence = result.get("confidenceScore")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        return _checked(
            result, None, Outcome.MALFORMED, "confidenceScore is missing or not a number"
        )
    confidence = float(confidence)
    if confidence < rules.confidence_threshold:
        reason = (
            f"confidence {confidence:.2f} is below the threshold {rules.confidence_threshold:.2f}"
        )
        return _checked(result, confidence, Outcome.BELOW_CONFIDENCE, reason)
    last_updated = result.get("lastUpdated")
    if not last_updated:
        return _checked(result, confidence, Outcome.MISSING_LAST_UPDATED, "no lastUpdated date")
    when = parse_time(last_updated)
    if when is None:
        reason = f"lastUpdated {str(last_updated)[:40]!r} is not an ISO 8601 date"
        return _checked(result, confidence, Outcome.UNPARSEABLE_LAST_UPDATED, reason)
    age = now - when
    if age > timedelta(days=rules.freshness_days):
        reason = f"last updated {age.days} days ago; the limit is {rules.freshness_days} days"
        return _checked(result, confidence, Outcome.STALE, reason)
    return _checked(result, confidence, Outcome.PASSED, "")


def _text(result: dict, key: str, limit: int) -> str:
    value = result.get(key)
    return str(value)[:limit] if value is not None else ""


def _checked(result: dict, confidence, outcome: Outcome, reason: str) -> CheckedResult:
    return CheckedResult(
        document_id=_text(result, "documentId", 128),
        title=_text(result, "title", 300),
        snippet=_text(result, "snippet", 1000),
        url=_text(result, "url", 500),
        knowledge_base_id=_text(result, "knowledgeBaseId", 128),
        confidence=confidence,
        last_updated=_text(result, "lastUpdated", 64),
        outcome=outcome,
        reason=reason,
        version_id=_text(result, "versionId", 128),
        variation_id=_text(result, "variationId", 128),
    )


def _with_rank(result: CheckedResult, rank: int) -> CheckedResult:
    return CheckedResult(**{**result.__dict__, "rank": rank})


# The client


class QueryFailed(GenesysError):
    """A query that ended without an answer. `kind` names how; `code` is the server's."""

    kind = "error"

    def __init__(self, message: str, *, code: str = ""):
        super().__init__(message)
        self.code = code


class QueryRefused(QueryFailed):
    """The server answered with an ERROR message."""


class QueryTimedOut(QueryFailed):
    kind = "timeout"


class QueryBusy(QueryFailed):
    """Every slot is taken and the caller chose not to wait."""

    kind = "busy"


class QueryLost(QueryFailed):
    """The connection dropped while the query was in flight, on every attempt."""

    kind = "lost"


class Unavailable(QueryFailed):
    """The client cannot connect for a reason that needs a person (credentials, policy)."""

    kind = "unavailable"


@dataclass(frozen=True)
class Answer:
    query_id: str
    conversation_id: str
    results: list
    latency_ms: float
    attempts: int


class Limiter:
    """At most `size` queries in flight. Slots are only taken through `slot()`, whose exit
    releases it exactly once: a query can neither leak a slot nor free one twice."""

    def __init__(self, size: int):
        self.size = size
        self.in_use = 0
        self._semaphore = asyncio.Semaphore(size)

    @asynccontextmanager
    async def slot(self, *, wait: bool = True):
        if not wait and self._semaphore.locked():
            raise QueryBusy(f"all {self.size} query slots are in use", code="too_many_requests")
        await self._semaphore.acquire()
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1
            self._semaphore.release()


@dataclass(eq=False)
class _Pending:
    request: SearchRequest
    future: asyncio.Future
    started: float
    attempts: int = 0
    socket: int | None = None  # the socket it was last sent on


@dataclass
class _Socket:
    number: int
    ws: ClientConnection
    # Per conversation, the queries sent on this socket in order, for servers that do not
    # echo queryId. A query that ended unanswered stays as a placeholder until its grace
    # deadline (in `ghosts`), so a late answer is dropped rather than taken for the next
    # query's; after the deadline its answer is presumed lost.
    sent: dict[str, deque] = field(default_factory=lambda: defaultdict(deque))
    ghosts: dict[str, float] = field(default_factory=dict)


class KnowledgeClient:
    """Queries over one WebSocket, opened on first use and reopened with backoff."""

    def __init__(
        self,
        *,
        tokens: TokenManager,
        api_base_url: str,
        max_in_flight: int = 5,
        settings: ClientSettings | None = None,
        on_state: Callable[[ClientState, str], Awaitable[None]] | None = None,
        late_answer_grace: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.tokens = tokens
        self.ws_url = websocket_url(api_base_url.rstrip("/"), KNOWLEDGE_PATH)
        self.settings = settings or ClientSettings()
        self.limiter = Limiter(max_in_flight)
        self.planner = ReconnectPlan(
            self.settings, Backoff(base=self.settings.backoff_base, cap=self.settings.backoff_cap)
        )
        self.on_state = on_state
        self.late_answer_grace = late_answer_grace
        self.sleep = sleep
        self.state = ClientState.STOPPED
        self.detail = ""
        self._pending: dict[str, _Pending] = {}
        self._outbox: asyncio.Queue[_Pending] = asyncio.Queue()
        self._socket: _Socket | None = None
        self._sockets = 0
        self._runner: asyncio.Task | None = None

    # Queries

    async def query(self, request: SearchRequest, *, within: float, wait: bool = True) -> Answer:
        """Send one query and wait for its answer. Raises a QueryFailed subclass."""
        if request.query_id is None:
            request = request.model_copy(update={"query_id": uuid.uuid4().hex})
        if self.state is ClientState.ERROR:
            raise Unavailable(f"not connected: {self.detail}", code="unavailable")
        self.start()
        step = "waiting for a free slot"
        try:
            async with asyncio.timeout(within):
                async with self.limiter.slot(wait=wait):
                    step = "waiting for the answer"
                    return await self._ask(request)
        except TimeoutError:
            raise QueryTimedOut(f"no answer within {within:g} s ({step})", code="timeout") from None

    async def _ask(self, request: SearchRequest) -> Answer:
        pending = _Pending(request, asyncio.get_running_loop().create_future(), time.monotonic())
        self._pending[request.query_id] = pending
        self._outbox.put_nowait(pending)
        try:
            return await pending.future
        finally:
            # Whatever ended the wait, the query is over: a late answer finds nothing, and
            # a query still in the outbox is not sent.
            self._pending.pop(request.query_id, None)
            # (A timeout cancels the wait, and with it the future.)
            unanswered = pending.future.cancelled() or not pending.future.done()
            socket = self._socket
            if unanswered and socket and pending.socket == socket.number:
                socket.ghosts[request.query_id] = time.monotonic() + self.late_answer_grace
            pending.future.cancel()

    def in_flight(self) -> int:
        return len(self._pending)

    # Lifecycle

    def start(self) -> None:
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name=f"knowledge {self.ws_url}")

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        for pending in list(self._pending.values()):
            _end(pending, QueryLost("the knowledge client was closed", code="closed"))

    async def _run(self) -> None:
        await self._report(ClientState.STARTING, "")
        while True:
            end = await self._session()
            self._socket_gone()
            state, delay = self.planner.plan(end)
            detail = end.detail if delay < 0.05 else f"{end.detail}; retrying in {delay:.1f} s"
            logger.log(
                logging.WARNING if end.kind is Ending.REFUSED else logging.INFO,
                "knowledge %s: %s",
                self.ws_url,
                detail,
            )
            await self._report(state, detail)
            if state is ClientState.ERROR:
                for pending in list(self._pending.values()):
                    _end(pending, Unavailable(f"not connected: {end.detail}", code="unavailable"))
            await self.sleep(delay)

    async def _report(self, state: ClientState, detail: str) -> None:
        self.state, self.detail = state, detail
        if self.on_state is not None:
            await self.on_state(state, detail)

    async def _session(self) -> SessionEnd:
        try:
            token = await self.tokens.token()
            try:
                ws = await open_socket(self.ws_url, token, self.settings)
            except InvalidStatus as exc:
                needs = "agent-assist:realtime and knowledge:search"
                return handshake_refused(exc, self.tokens, token, needs=needs)
            async with ws:
                return await self._serve(ws, token)
        except Exception as exc:
            return session_failed(exc, f"knowledge {self.ws_url}")

    async def _serve(self, ws: ClientConnection, token: str) -> SessionEnd:
        self._sockets += 1
        socket = self._socket = _Socket(self._sockets, ws)
        opened = time.monotonic()
        await self._report(ClientState.CONNECTED, "connected")
        writer = asyncio.create_task(self._write(socket))
        try:
            async for raw in ws:
                self._dispatch(socket, raw)
        except ConnectionClosed:
            pass
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        stable = time.monotonic() - opened >= self.settings.stable_after
        return self._closed(ws, token, stable=stable)

    async def _write(self, socket: _Socket) -> None:
        while True:
            pending = await self._outbox.get()
            if pending.future.done():
                continue  # timed out while queued
            try:
                await socket.ws.send(pending.request.to_json())
            except ConnectionClosed:
                self._outbox.put_nowait(pending)  # not sent: the next socket takes it
                return
            pending.attempts += 1
            pending.socket = socket.number
            socket.sent[pending.request.conversation_id].append(pending.request.query_id)

    def _socket_gone(self) -> None:
        """Queries in flight on the dropped socket go once more on the next, or fail."""
        gone, self._socket = self._socket, None
        if gone is None:
            return
        for pending in [p for p in self._pending.values() if p.socket == gone.number]:
            pending.socket = None
            if pending.attempts >= MAX_ATTEMPTS:
                _end(
                    pending,
                    QueryLost(
                        f"the connection dropped while the query was in flight, "
                        f"{pending.attempts} times",
                        code="connection_lost",
                    ),
                )
            else:
                self._outbox.put_nowait(pending)

    def _closed(self, ws: ClientConnection, token: str, *, stable: bool) -> SessionEnd:
        code = ws.close_code or CLOSE_ABNORMAL
        reason = ws.close_reason or ""
        detail = f"closed ({code}{': ' + reason if reason else ''})"
        if code == CLOSE_TOKEN_EXPIRED:
            self.tokens.invalidate(token)
            return SessionEnd(
                Ending.TOKEN_REJECTED, f"token expired, {detail}", code, stable=stable
            )
        if code == CLOSE_POLICY:
            # A policy close answers a frame the server could not read: a bug on our side
            # or theirs, not a reason to stop asking.
            return SessionEnd(Ending.FAILED, f"refused a message, {detail}", code, stable=stable)
        if code == CLOSE_ABNORMAL:
            detail = "connection dropped without a close frame (1006)"
        return SessionEnd(Ending.CLOSED, detail, code, stable=stable)

    # Answers

    def _dispatch(self, socket: _Socket, raw: str | bytes) -> None:
        decoded = decode_frame(raw)
        if isinstance(decoded, DecodeError):
            logger.warning("knowledge %s: a frame was ignored: %s", self.ws_url, decoded.reason)
            return
        message = decoded.payload
        if message.get("messageType") not in (MESSAGE_RESPONSE, MESSAGE_ERROR):
            return
        pending = self._match(socket, message)
        if pending is None:
            logger.info(
                "knowledge %s: an answer for no query in flight was ignored (query %s, "
                "conversation %s): it came after its query ended",
                self.ws_url,
                str(message.get("queryId"))[:64],
                str(message.get("conversationId"))[:64],
            )
            return
        if message["messageType"] == MESSAGE_ERROR:
            code = str(message.get("code") or "error")[:64]
            text = str(message.get("message") or "no message")[:500]
            _end(pending, QueryRefused(f"Genesys refused the query: {code}: {text}", code=code))
            return
        results = message.get("results")
        _end(
            pending,
            Answer(
                query_id=pending.request.query_id,
                conversation_id=pending.request.conversation_id,
                results=results if isinstance(results, list) else [],
                latency_ms=(time.monotonic() - pending.started) * 1000,
                attempts=pending.attempts,
            ),
        )

    def _match(self, socket: _Socket, message: dict) -> _Pending | None:
        """The query an answer belongs to: by queryId, else the oldest on its conversation."""
        conversation = message.get("conversationId")
        sent = socket.sent.get(conversation) if isinstance(conversation, str) else None
        query_id = message.get("queryId")
        if isinstance(query_id, str) and query_id:
            if sent is not None and query_id in sent:
                sent.remove(query_id)
            socket.ghosts.pop(query_id, None)
            return self._pending.get(query_id)
        while sent:
            query_id = sent.popleft()
            if query_id in self._pending:
                return self._pending[query_id]
            if socket.ghosts.pop(query_id, 0.0) > time.monotonic():
                return None  # the late answer of a query that already ended
        return None


def _end(pending: _Pending, outcome: Answer | QueryFailed) -> None:
    """Resolve a query's wait, once: later outcomes for the same query are dropped."""
    if pending.future.done():
        return
    if isinstance(outcome, Answer):
        pending.future.set_result(outcome)
    else:
        pending.future.set_exception(outcome)


def sources_in_order(priorities: dict[str, int]) -> Iterator[KnowledgeSourceRef]:
    for knowledge_base_id, priority in sorted(priorities.items(), key=lambda kv: (kv[1], kv[0])):
        yield KnowledgeSourceRef(knowledge_base_id=knowledge_base_id, priority=priority)
