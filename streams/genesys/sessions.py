"""What both streaming clients share: how a session ends, what state a client reports, how
long it waits before the next attempt, and one way to open a Genesys socket.

A client owns its reconnect loop rather than using websockets' `async for connect()`,
because that loop does not back off when a server accepts and then closes at once, and
because each way a session can end calls for a different wait: a policy close (1008)
waits long, an expired token (4401) reconnects at once with a fresh one, a 429 waits as
long as the server asked.
"""

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from streams.genesys import rest
from streams.genesys.auth import TokenManager
from streams.genesys.backoff import Backoff
from streams.genesys.errors import (
    AuthenticationError,
    GenesysError,
    HostNotAllowed,
    PermissionDenied,
    RateLimited,
)
from streams.genesys.frames import Frame
from streams.genesys.hosts import HostPolicy

logger = logging.getLogger(__name__)

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_ABNORMAL = 1006
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_RESTART = 1012
CLOSE_TRY_LATER = 1013
CLOSE_TOKEN_EXPIRED = 4401


class ClientState(StrEnum):
    """What a client reports about its connection (the stream worker stores it)."""

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


class FrameHandler(Protocol):
    """What a client reports to: the stream runner in production, a list in tests. Both
    flavours hand over every frame the same way, decoded at most once (`Frame.decoded`)."""

    async def on_frame(self, frame: Frame) -> None: ...

    async def on_state(
        self, state: ClientState, detail: str = "", retry_in: float | None = None
    ) -> None:
        """`retry_in`: seconds until the next attempt, when the client waits for one."""

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

    def plan(self, end: SessionEnd) -> tuple[ClientState, float]:
        if end.stable:
            self.backoff.reset()
            self._token_retries = 0
        if end.kind is Ending.TOKEN_REJECTED:
            # The first rejection is an ordinary expiry: reconnect at once with a new token.
            # Repeated rejections without a stable connection in between back off.
            self._token_retries += 1
            delay = 0.0 if self._token_retries == 1 else self.backoff.next_delay()
            return ClientState.RECONNECTING, delay
        if end.kind is Ending.RATE_LIMITED:
            return ClientState.RECONNECTING, max(end.retry_after or 0.0, self.backoff.next_delay())
        if end.kind is Ending.SATURATED:
            return ClientState.SATURATED, max(self.settings.backoff_base, self.backoff.next_delay())
        if end.kind is Ending.REFUSED:
            return ClientState.ERROR, self.settings.policy_backoff
        if end.code == CLOSE_TRY_LATER:
            return ClientState.RECONNECTING, self.settings.backoff_base + self.backoff.next_delay()
        return ClientState.RECONNECTING, self.backoff.next_delay()


async def reconnect_forever(
    handler: FrameHandler, session, planner: ReconnectPlan, where: str, sleep
) -> None:
    """A client's life: one session after another, each ending reported with the wait
    its kind of ending calls for, until cancelled."""
    await handler.on_state(ClientState.STARTING)
    while True:
        end = await session()
        state, delay = planner.plan(end)
        log = logger.warning if state is not ClientState.RECONNECTING else logger.info
        log("%s: %s; retrying in %.1f s", where, end.detail, delay)
        await handler.on_state(state, end.detail, retry_in=delay)
        await sleep(delay)


async def open_socket(url: str, token: str | None, settings: ClientSettings) -> ClientConnection:
    """Open a WebSocket with the client's timeouts, keepalive and size limit, with the token
    as a bearer header (None: without one, as for a notification channel's socket)."""
    pinned = {}
    if settings.host_policy is not None:
        addresses = await settings.host_policy.check(url)
        if addresses:  # connect to the address checked (TLS still names the host)
            pinned["host"] = addresses[0]
    return await connect(
        url,
        **pinned,
        additional_headers={"Authorization": f"Bearer {token}"} if token else None,
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
    if isinstance(exc, TokenRejected):
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


class TokenRejected(GenesysError):
    """The server refused a token it issued: fetch a new one and retry at once."""
