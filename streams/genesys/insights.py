"""The insights stream client (seed flavour): connect, subscribe, receive, reconnect.

The client owns its reconnect loop rather than using websockets' `async for connect()`,
because that loop does not back off when a server accepts and then closes at once, and
because each way a session can end calls for a different wait: a policy close (1008)
waits long, an expired token (4401) reconnects at once with a fresh one, a 429 waits as
long as the server asked.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import httpx
from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from streams.genesys import rest
from streams.genesys.auth import TokenManager
from streams.genesys.backoff import Backoff
from streams.genesys.errors import (
    AuthenticationError,
    GenesysError,
    HostNotAllowed,
    PermissionDenied,
    RateLimited,
    UnexpectedResponse,
)
from streams.genesys.frames import Decoded, decode_frame
from streams.genesys.hosts import HostPolicy
from streams.genesys.payloads import StreamLimits, Subscription, SubscriptionAck
from streams.genesys.regions import websocket_url

logger = logging.getLogger(__name__)

INSIGHTS_PATH = "/api/v2/analytics/events"
LIMITS_PATH = "/api/v2/analytics/events/streamlimits"

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_ABNORMAL = 1006
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_RESTART = 1012
CLOSE_TRY_LATER = 1013
CLOSE_TOKEN_EXPIRED = 4401


class StreamState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    SATURATED = "saturated"
    ERROR = "error"


class Ending(StrEnum):
    """How a session ended; each kind has its own wait before the next attempt."""

    CLOSED = "closed"
    TOKEN_REJECTED = "token-rejected"  # noqa: S105  (a name, not a secret)
    RATE_LIMITED = "rate-limited"
    SATURATED = "saturated"
    REFUSED = "refused"  # credentials, permissions or subscription: needs a person
    FAILED = "failed"  # network, timeouts, protocol slips: back off and retry


@dataclass(frozen=True)
class SessionEnd:
    kind: Ending
    detail: str
    code: int | None = None
    retry_after: float | None = None
    stable: bool = False


class StreamHandler(Protocol):
    """What the client reports to: the stream runner in production, a list in tests."""

    async def on_frame(self, raw: str | bytes, received_at: float) -> None: ...

    async def on_state(self, state: StreamState, detail: str = "") -> None: ...

    async def resume_after(self) -> str | None: ...


@dataclass(frozen=True)
class ClientSettings:
    ack_timeout: float = 10.0
    open_timeout: float = 10.0
    # A server that stops answering should not hold up the reconnect for long.
    close_timeout: float = 2.0
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    max_message_bytes: int = 16 * 1024 * 1024
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    policy_backoff: float = 300.0
    stable_after: float = 30.0
    check_limits: bool = True
    # Where sockets may connect (checked again after DNS at every connect); None: anywhere.
    host_policy: HostPolicy | None = None


class ReconnectPlan:
    """The state to show and the wait before the next attempt, for how a session ended."""

    def __init__(self, settings: ClientSettings, backoff: Backoff):
        self.settings = settings
        self.backoff = backoff
        self._token_retries = 0

    def plan(self, end: SessionEnd) -> tuple[StreamState, float]:
        if end.stable:
            self.backoff.reset()
            self._token_retries = 0
        if end.kind is Ending.TOKEN_REJECTED:
            # The first rejection is an ordinary expiry: reconnect at once with a new token.
            # Repeated rejections without a stable connection in between back off.
            self._token_retries += 1
            delay = 0.0 if self._token_retries == 1 else self.backoff.next_delay()
            return StreamState.RECONNECTING, delay
        if end.kind is Ending.RATE_LIMITED:
            return StreamState.RECONNECTING, max(end.retry_after or 0.0, self.backoff.next_delay())
        if end.kind is Ending.SATURATED:
            return StreamState.SATURATED, max(self.settings.backoff_base, self.backoff.next_delay())
        if end.kind is Ending.REFUSED:
            return StreamState.ERROR, self.settings.policy_backoff
        if end.code == CLOSE_TRY_LATER:
            return StreamState.RECONNECTING, self.settings.backoff_base + self.backoff.next_delay()
        return StreamState.RECONNECTING, self.backoff.next_delay()


class InsightsClient:
    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        tokens: TokenManager,
        api_base_url: str,
        subscription: Callable[[str | None], Subscription],
        handler: StreamHandler,
        settings: ClientSettings | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.http = http
        self.tokens = tokens
        self.api_base_url = api_base_url.rstrip("/")
        self.ws_url = websocket_url(self.api_base_url, INSIGHTS_PATH)
        self.subscription = subscription
        self.handler = handler
        self.settings = settings or ClientSettings()
        self.backoff = backoff or Backoff(
            base=self.settings.backoff_base, cap=self.settings.backoff_cap
        )
        self.sleep = sleep
        self.planner = ReconnectPlan(self.settings, self.backoff)

    async def run(self) -> None:
        """Connect and receive until cancelled; every ending leads to a planned retry."""
        await self.handler.on_state(StreamState.STARTING)
        while True:
            end = await self.session()
            state, delay = self.plan(end)
            detail = end.detail if delay < 0.05 else f"{end.detail}; retrying in {delay:.1f} s"
            log = logger.warning if state is not StreamState.RECONNECTING else logger.info
            log("stream %s: %s", self.ws_url, detail)
            await self.handler.on_state(state, detail)
            await self.sleep(delay)

    def plan(self, end: SessionEnd) -> tuple[StreamState, float]:
        return self.planner.plan(end)

    async def session(self) -> SessionEnd:
        """One attempt: token, limits, connect, subscribe, receive until the socket ends."""
        try:
            token = await self.tokens.token()
            if self.settings.check_limits:
                limits = await self.fetch_limits(token)
                if limits is not None and limits.saturated:
                    return SessionEnd(
                        Ending.SATURATED,
                        f"stream limit reached ({limits.current_streams} of "
                        f"{limits.max_concurrent_streams} concurrent streams in use)",
                    )
            return await self._connect(token)
        except Exception as exc:
            return session_failed(exc, self.ws_url)

    async def fetch_limits(self, token: str) -> StreamLimits | None:
        """The stream limits, or None from a gateway that does not publish them (404)."""
        url = self.api_base_url + LIMITS_PATH
        response = await rest.send(
            lambda: self.http.get(url, headers={"Authorization": f"Bearer {token}"}),
            what="stream limits",
        )
        if response.status_code == 401:
            self.tokens.invalidate(token)
            raise _TokenRejected("stream limits: token refused (HTTP 401)")
        if response.status_code == 403:
            raise PermissionDenied(
                "stream limits: permission denied (HTTP 403): the OAuth client needs "
                "analytics:events:read"
            )
        if response.status_code == 404:
            logger.info("stream %s: no stream limits endpoint; connecting without", self.ws_url)
            return None
        if response.status_code != 200:
            raise UnexpectedResponse(f"stream limits: unexpected HTTP {response.status_code}")
        try:
            return StreamLimits.model_validate_json(response.content)
        except ValidationError as exc:
            raise UnexpectedResponse(
                f"stream limits: malformed answer ({exc.error_count()} errors)"
            ) from None

    async def _connect(self, token: str) -> SessionEnd:
        try:
            ws = await open_socket(self.ws_url, token, self.settings)
        except InvalidStatus as exc:
            return handshake_refused(
                exc, self.tokens, token, needs="analytics:events:read and agentassist:read"
            )
        async with ws:
            return await self._subscribe_and_receive(ws, token)

    async def _subscribe_and_receive(self, ws: ClientConnection, token: str) -> SessionEnd:
        resume_after = await self.handler.resume_after()
        subscription = self.subscription(resume_after)
        connected_at = time.monotonic()
        try:
            await ws.send(subscription.to_json())
            ack = await self._await_ack(ws, subscription)
            if isinstance(ack, SessionEnd):
                return ack
            await self.handler.on_state(StreamState.CONNECTED, self._resume_note(resume_after, ack))
            while True:
                raw = await ws.recv()
                await self.handler.on_frame(raw, time.time())
        except ConnectionClosed as exc:
            stable = time.monotonic() - connected_at >= self.settings.stable_after
            return self._closed(exc, token, stable=stable)

    async def _await_ack(
        self, ws: ClientConnection, subscription: Subscription
    ) -> SubscriptionAck | SessionEnd:
        try:
            raw = await asyncio.wait_for(ws.recv(), self.settings.ack_timeout)
        except TimeoutError:
            return SessionEnd(
                Ending.FAILED,
                f"subscription not acknowledged within {self.settings.ack_timeout:g} s",
            )
        decoded = decode_frame(raw)
        if isinstance(decoded, Decoded):
            try:
                ack = SubscriptionAck.model_validate(decoded.payload)
            except ValidationError:
                pass
            else:
                if ack.id == subscription.id:
                    return ack
        return SessionEnd(
            Ending.FAILED, "expected a subscription acknowledgement, got another frame"
        )

    def _resume_note(self, requested: str | None, ack: SubscriptionAck) -> str:
        if requested is None:
            return "subscribed"
        if ack.resumed_after == requested:
            return f"subscribed, resumed after {requested}"
        logger.warning(
            "stream %s: server did not resume after %s; events may be missing",
            self.ws_url,
            requested,
        )
        return f"subscribed, but the server did not resume after {requested}: events may be missing"

    def _closed(self, exc: ConnectionClosed, token: str, *, stable: bool) -> SessionEnd:
        if exc.sent is not None and exc.sent.code == CLOSE_TOO_BIG:
            return SessionEnd(
                Ending.FAILED,
                f"closed (1009): a frame exceeded {self.settings.max_message_bytes} bytes",
                code=CLOSE_TOO_BIG,
                stable=stable,
            )
        code = exc.rcvd.code if exc.rcvd is not None else CLOSE_ABNORMAL
        reason = exc.rcvd.reason if exc.rcvd is not None else ""
        detail = f"closed ({code}{': ' + reason if reason else ''})"
        if code == CLOSE_POLICY:
            return SessionEnd(
                Ending.REFUSED, f"subscription refused by the server, {detail}", code=code
            )
        if code == CLOSE_TOKEN_EXPIRED:
            self.tokens.invalidate(token)
            return SessionEnd(
                Ending.TOKEN_REJECTED, f"token expired, {detail}", code=code, stable=stable
            )
        if code == CLOSE_ABNORMAL:
            detail = "connection dropped without a close frame (1006)"
        return SessionEnd(Ending.CLOSED, detail, code=code, stable=stable)


async def open_socket(url: str, token: str, settings: ClientSettings) -> ClientConnection:
    """Open an authenticated WebSocket with the client's timeouts, keepalive and size limit."""
    if settings.host_policy is not None:
        await settings.host_policy.check(url)
    return await connect(
        url,
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=settings.open_timeout,
        close_timeout=settings.close_timeout,
        ping_interval=settings.ping_interval,
        ping_timeout=settings.ping_timeout,
        max_size=settings.max_message_bytes,
        user_agent_header="assistgov",
    )


def session_failed(exc: Exception, where: str) -> SessionEnd:
    """How a session ends when `exc` escaped it (call from the `except` block)."""
    if isinstance(exc, AuthenticationError | PermissionDenied | HostNotAllowed):
        return SessionEnd(Ending.REFUSED, str(exc))
    if isinstance(exc, RateLimited):
        return SessionEnd(Ending.RATE_LIMITED, str(exc), retry_after=exc.retry_after)
    if isinstance(exc, _TokenRejected):
        return SessionEnd(Ending.TOKEN_REJECTED, str(exc))
    if isinstance(exc, GenesysError | httpx.HTTPError):
        return SessionEnd(Ending.FAILED, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, OSError | TimeoutError | InvalidHandshake):
        return SessionEnd(Ending.FAILED, f"cannot connect: {type(exc).__name__}: {exc}")
    # A bug in frame handling must not end the stream for good: report and retry.
    logger.exception("%s: unexpected error", where)
    return SessionEnd(Ending.FAILED, f"internal error: {type(exc).__name__}: {exc}")


def handshake_refused(
    exc: InvalidStatus, tokens: TokenManager, token: str, *, needs: str
) -> SessionEnd:
    """How a session ends when the server refuses the WebSocket upgrade."""
    status = exc.response.status_code
    if status == 401:
        tokens.invalidate(token)
        return SessionEnd(Ending.TOKEN_REJECTED, "handshake refused the token (HTTP 401)")
    if status == 429:
        retry_after = rest.parse_retry_after(exc.response.headers.get("Retry-After"))
        return SessionEnd(
            Ending.RATE_LIMITED,
            "handshake refused: too many streams (HTTP 429)",
            retry_after=retry_after,
        )
    if status == 403:
        return SessionEnd(
            Ending.REFUSED,
            f"handshake refused: permission denied (HTTP 403): the OAuth client needs {needs}",
        )
    return SessionEnd(Ending.FAILED, f"handshake refused (HTTP {status})")


class _TokenRejected(GenesysError):
    """The server refused a token it issued: fetch a new one and retry at once."""
