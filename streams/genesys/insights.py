"""The insights stream client (seed flavour): connect, subscribe, receive, reconnect (the
session machinery both flavours share is in `sessions`)."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import httpx
from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from streams.genesys import rest
from streams.genesys.auth import TokenManager
from streams.genesys.backoff import Backoff
from streams.genesys.errors import PermissionDenied, UnexpectedResponse
from streams.genesys.frames import Decoded, Frame, decode_frame
from streams.genesys.payloads import StreamLimits, Subscription, SubscriptionAck
from streams.genesys.regions import websocket_url
from streams.genesys.sessions import (
    CLOSE_ABNORMAL,
    CLOSE_POLICY,
    CLOSE_TOKEN_EXPIRED,
    CLOSE_TOO_BIG,
    ClientSettings,
    ClientState,
    Ending,
    FrameHandler,
    ReconnectPlan,
    SessionEnd,
    TokenRejected,
    handshake_refused,
    open_socket,
    reconnect_forever,
    session_failed,
)

logger = logging.getLogger(__name__)

INSIGHTS_PATH = "/api/v2/analytics/events"
LIMITS_PATH = "/api/v2/analytics/events/streamlimits"


class InsightsClient:
    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        tokens: TokenManager,
        api_base_url: str,
        subscription: Callable[[str | None], Subscription],
        handler: FrameHandler,
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
        await reconnect_forever(
            self.handler, self.session, self, f"stream {self.ws_url}", self.sleep
        )

    def plan(self, end: SessionEnd) -> tuple[ClientState, float]:
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
            raise TokenRejected("stream limits: token refused (HTTP 401)")
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
            await self.handler.on_state(ClientState.CONNECTED, self._resume_note(resume_after, ack))
            while True:
                raw = await ws.recv()
                await self.handler.on_frame(Frame(raw, time.time()))
        except ConnectionClosed as exc:
            stable = time.monotonic() - connected_at >= self.settings.stable_after
            return self._closed(exc, token, stable=stable)

    async def _await_ack(
        self, ws: ClientConnection, subscription: Subscription
    ) -> SubscriptionAck | SessionEnd:
        # asyncio.wait, not wait_for or timeout: on Python 3.11 wait_for drops a cancellation
        # that lands as the frame arrives (the stream would not stop when told), and
        # asyncio.timeout can leave a stray one when the frame arrives at the deadline.
        receiving = asyncio.ensure_future(ws.recv())
        try:
            await asyncio.wait({receiving}, timeout=self.settings.ack_timeout)
        finally:
            if not receiving.done():
                receiving.cancel()
                await asyncio.gather(receiving, return_exceptions=True)
        if receiving.cancelled():
            return SessionEnd(
                Ending.FAILED,
                f"subscription not acknowledged within {self.settings.ack_timeout:g} s",
            )
        raw = receiving.result()  # a closed socket raises ConnectionClosed, as recv does
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
