"""The simulator's HTTP and WebSocket server (aiohttp), seed flavour of PROTOCOL.md.

Routes:
  POST /oauth/token                                 client credentials (Basic or form fields)
  GET  /api/v2/analytics/events/streamlimits        stream limits
  GET  /api/v2/analytics/events                     insights WebSocket
  GET  /api/v2/agent-assist/real-time               knowledge search WebSocket
  (and the notifications flavour's routes: see streams/simulator/notifications.py)
  GET  /_sim/stats                                  what was generated and sent (?ids=1 for ids)
  POST /_sim/emit      {"count": n, "event": {...}} generate n events now (fields overridden)
  POST /_sim/faults    {"action": ...}              inject a fault (see FAULTS)
"""

import asyncio
import base64
import binascii
import collections
import contextlib
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import WSMsgType, web
from pydantic import ValidationError

from streams.genesys.payloads import Subscription
from streams.simulator.assistants import Assistants
from streams.simulator.conversations import ConversationLife
from streams.simulator.generator import EventGenerator, event_seq
from streams.simulator.knowledge import KnowledgeService
from streams.simulator.notifications import NotificationsService

logger = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT = 10.0
CLOSE_REASON_BYTES = 123
FAULTS = (
    "drop",  # abort every socket without a close frame (1006 for the client)
    "close",  # close every socket with {"code", "reason"}
    "expire_tokens",  # every issued token expires now: open sockets close with 4401
    "token",  # the next {"count"} token requests answer {"status"} (429 with {"retry_after"})
    "handshake",  # the next {"count"} WebSocket handshakes answer {"status"}
    "saturate",  # pretend {"streams"} other streams are open (0 to undo)
    "inject",  # send a bad frame to every socket: {"kind"} in INJECTIONS
    "ack_delay",  # wait {"seconds"} before acknowledging subscriptions
    "restart",  # go away (close 1012) for {"seconds"}, then come back with the same events
    "knowledge",  # knowledge search: {"limit", "delay", "echo_query_id", "swallow"}
    # The notifications flavour:
    "socket_closing",  # v2.system.socket_closing to every socket, closed {"seconds"} later
    "silence",  # no heartbeat, pong or event on open sockets for {"seconds"}
    "no_longer_subscribed",  # every channel loses its topics and says so
    "token_revoked",  # every socket is told its token was revoked
    "notifications_limits",  # limits endpoint answers {"status"}; {"channels"}, {"topics"}
    "engagement",  # suggestion engagements (feedback) answer {"status"} (200 to undo)
    "permissions",  # the OAuth client's role lacks the permissions {"missing"} ([] to undo)
    "lose",  # the next {"count"} suggestions reach no socket (still listed and counted)
    "topics",  # the org names kinds' topics {"names": {kind: name}}, offers not {"drop"}
    "change_assistant",  # an admin in Genesys edits an assistant now (its copilot, its queues)
)
NOTIFICATION_FAULTS = FAULTS[-10:-1]
INJECTIONS = ("malformed-json", "bad-base64", "not-an-object", "oversized", "duplicate", "no-type")


# A contact centre's day: the share of its peak rate at each hour (local time), from quiet
# nights through the morning rise, a lunch dip and the evening decline.
DAY_CURVE = (
    *(0.06, 0.05, 0.05, 0.05, 0.06, 0.1, 0.2, 0.45, 0.75, 0.95, 1.0, 0.95),
    *(0.8, 0.85, 0.95, 1.0, 0.9, 0.75, 0.55, 0.4, 0.3, 0.2, 0.12, 0.08),
)


def day_share(now: datetime) -> float:
    """DAY_CURVE at `now`, between its hours in a straight line."""
    hour = now.hour + now.minute / 60 + now.second / 3600
    low = int(hour) % 24
    return DAY_CURVE[low] + (DAY_CURVE[(low + 1) % 24] - DAY_CURVE[low]) * (hour - int(hour))


@dataclass
class SimulatorConfig:
    seed: int = 42
    rate: float = 5.0
    # The rate follows a contact centre's day in the host's local time (`rate` at the peak
    # hours, a twentieth of it at night: DAY_CURVE).
    day_curve: bool = False
    max_events: int | None = None
    retention: int = 100_000
    client_id: str = "assistgov-demo"
    client_secret: str = "assistgov-demo-secret"  # noqa: S105  (the simulator's demo secret)
    token_ttl: float = 3600.0
    max_concurrent_streams: int = 10
    max_subscriptions_per_stream: int = 5
    encoding: str = "mixed"
    hostile_ratio: float = 0.0
    # Share of texts that carry a customer's card number, e-mail, IBAN or phone number.
    personal_ratio: float = 0.05
    interactions: int = 20
    oversized_bytes: int = 2 * 1024 * 1024
    # The notifications flavour: heartbeat period and channel lifetime, in seconds.
    heartbeat_seconds: float = 30.0
    channel_ttl: float = 24 * 3600.0
    # Queues (0: none; conversations are a fixed pool): `interactions` conversations are
    # live at a time, each in a queue with an agent, and every `conversation_turnover`
    # events the oldest ends and a new one starts (streams/simulator/conversations.py).
    queues: int = 0
    agents: int = 6
    conversation_turnover: int = 10
    # Every this many conversations' worth of events (`conversation_turnover` each), an admin
    # in Genesys edits an assistant (0: never).
    assistant_change_every: int = 200
    # Part of every event id, so a restarted simulator never reuses an id (as Genesys never
    # does). Tests set "" for short ids.
    run_id: str = field(default_factory=lambda: format(int(time.time()), "x"))


@dataclass(eq=False)
class Connection:
    id: int
    ws: web.WebSocketResponse
    request: web.Request
    token: str
    subscription: Subscription | None = None
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    faults: collections.deque = field(default_factory=collections.deque)
    last_sent: dict | None = None
    acked: bool = False  # the subscription is acknowledged: events emitted from now reach it


class Simulator:
    def __init__(self, config: SimulatorConfig | None = None):
        self.config = config or SimulatorConfig()
        self.generator = EventGenerator(
            seed=self.config.seed,
            interactions=self.config.interactions,
            hostile_ratio=self.config.hostile_ratio,
            personal_ratio=self.config.personal_ratio,
            run=self.config.run_id,
        )
        self.life = (
            ConversationLife(
                queues=self.config.queues,
                agents=self.config.agents,
                live=self.config.interactions,
                turnover=self.config.conversation_turnover,
                run=self.config.run_id,
            )
            if self.config.queues > 0
            else None
        )
        if self.life is not None:
            self.generator.interactions = self.life.ids()
        self.assistants = Assistants(self.life.queues if self.life is not None else [])
        self.emitted = 0
        self.events: list[dict] = []
        self.first_seq = 1
        self.tokens: dict[str, float] = {}
        self.connections: dict[int, Connection] = {}
        self.sent_ids: set[str] = set()
        self.counters: collections.Counter = collections.Counter()
        self.other_streams = 0
        self.ack_delay = 0.0
        self.token_faults: collections.deque = collections.deque()
        self.handshake_faults: collections.deque = collections.deque()
        self._next_connection = 0
        self._runner: web.AppRunner | None = None
        self._background: set[asyncio.Task] = set()
        self.host, self.port = "127.0.0.1", 0
        self.knowledge = KnowledgeService(self, self.config.seed)
        self.notifications = NotificationsService(self)
        self._generator_task: asyncio.Task | None = None
        self.app = self._build_app()

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post("/oauth/token", self.oauth_token)
        app.router.add_get("/api/v2/analytics/events/streamlimits", self.stream_limits)
        app.router.add_get("/api/v2/analytics/events", self.insights_socket)
        app.router.add_get("/api/v2/agent-assist/real-time", self.knowledge.socket)
        self.notifications.routes(app)
        app.router.add_get("/_sim/stats", self.stats_view)
        app.router.add_post("/_sim/emit", self.emit_view)
        app.router.add_post("/_sim/faults", self.faults_view)
        return app

    # Lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen and start generating; returns the bound port (useful with port 0)."""
        self.host = host
        await self._listen(port)
        self._generator_task = asyncio.create_task(self._generate(), name="simulator-generator")
        logger.info("Genesys simulator listening on http://%s:%s", host, self.port)
        if self.config.day_curve:
            logger.info(
                "simulator: %.1f insights/s at the peak hours, %.1f/s now (a contact centre's day)",
                self.config.rate,
                self.current_rate(),
            )
        return self.port

    async def _listen(self, port: int) -> None:
        self._runner = web.AppRunner(
            self.app, handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, port, reuse_address=True).start()
        self.port = self._runner.addresses[0][1]

    async def _close(self, code: int, reason: str) -> None:
        for conn in list(self.connections.values()):
            await conn.ws.close(code=code, message=reason.encode())
        await self.knowledge.close(code, reason)
        await self.notifications.close(code, reason)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def restart(self, downtime: float) -> None:
        """Go away like a restarting server (close 1012), come back on the same port.

        The event log survives, as a real server's retention would: clients resume."""
        await self._close(1012, "service restart")
        self.app = self._build_app()
        await asyncio.sleep(downtime)
        await self._listen(self.port)
        logger.info("Genesys simulator back on port %s", self.port)

    async def stop(self) -> None:
        if self._generator_task is not None:
            self._generator_task.cancel()
            await asyncio.gather(self._generator_task, return_exceptions=True)
        for task in self._background:
            task.cancel()
        await self._close(1001, "simulator shutting down")

    # Events

    @property
    def last_seq(self) -> int:
        return self.first_seq + len(self.events) - 1

    def emit(self, count: int, overrides: dict | None = None) -> None:
        """Generate `count` events now; `overrides` replaces fields (not the id) of each."""
        overrides = {k: v for k, v in (overrides or {}).items() if k != "id"}
        for _ in range(count):
            if self.config.max_events is not None and self.generator.seq >= self.config.max_events:
                break
            if self.life is not None:
                changed = self.life.tick()
                if changed:
                    self.generator.interactions = self.life.ids()
                    self.notifications.publish_conversations(changed)
            self.emitted += 1
            every = self.config.assistant_change_every * self.config.conversation_turnover
            if every and self.emitted % every == 0:
                self.assistants.change()
            self.events.append({**self.generator.next_event(), **overrides})
        overflow = len(self.events) - self.config.retention
        if overflow > 0:
            del self.events[:overflow]
            self.first_seq += overflow
        for conn in self.connections.values():
            conn.wakeup.set()
        self.notifications.wake()

    def set_rate(self, rate: float) -> None:
        """Generate `rate` events per second from now on (0 stops generating)."""
        if self._generator_task is not None:
            self._generator_task.cancel()
        self.config.rate = rate
        self._generator_task = asyncio.get_running_loop().create_task(self._generate())

    def current_rate(self, now: datetime | None = None) -> float:
        """Events per second now: `rate`, or on a day curve its share for the hour."""
        if not self.config.day_curve:
            return self.config.rate
        return self.config.rate * day_share(now or datetime.now().astimezone())

    async def _generate(self) -> None:
        if self.config.rate <= 0:
            return
        last, owed = time.monotonic(), 0.0
        while True:
            now = time.monotonic()
            rate = self.current_rate()
            owed += (now - last) * rate
            last = now
            if owed >= 1:
                self.emit(int(owed))
                owed -= int(owed)
            await asyncio.sleep(min(0.05, 1 / max(rate, 0.1)))

    # OAuth and REST

    async def oauth_token(self, request: web.Request) -> web.Response:
        self.counters["token_requests"] += 1
        if self.token_faults:
            fault = self.token_faults.popleft()
            return _error_response(fault["status"], fault.get("retry_after"))
        form = await request.post()
        client_id, client_secret = _basic_credentials(request)
        client_id = client_id or form.get("client_id")
        client_secret = client_secret or form.get("client_secret")
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if (client_id, client_secret) != (self.config.client_id, self.config.client_secret):
            return web.json_response({"error": "invalid_client"}, status=401)
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.monotonic() + self.config.token_ttl
        self.counters["tokens_issued"] += 1
        return web.json_response(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": max(1, int(self.config.token_ttl)),
            }
        )

    def _token_valid(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        expires = self.tokens.get(token)
        return token if expires is not None and time.monotonic() < expires else None

    async def stream_limits(self, request: web.Request) -> web.Response:
        if self._token_valid(request) is None:
            return web.json_response({"message": "invalid token", "status": 401}, status=401)
        return web.json_response(
            {
                "maxConcurrentStreams": self.config.max_concurrent_streams,
                "maxSubscriptionsPerStream": self.config.max_subscriptions_per_stream,
                "currentStreams": len(self.connections) + self.other_streams,
            }
        )

    # Insights WebSocket

    async def insights_socket(self, request: web.Request) -> web.StreamResponse:
        if self.handshake_faults:
            fault = self.handshake_faults.popleft()
            self.counters["handshakes_refused"] += 1
            return _error_response(fault["status"], fault.get("retry_after"))
        token = self._token_valid(request)
        if token is None:
            self.counters["handshakes_refused"] += 1
            return web.json_response({"message": "invalid or expired token"}, status=401)
        if len(self.connections) + self.other_streams >= self.config.max_concurrent_streams:
            self.counters["handshakes_refused"] += 1
            return _error_response(429, 5)
        ws = web.WebSocketResponse(autoping=True, max_msg_size=64 * 1024)
        await ws.prepare(request)
        self._next_connection += 1
        conn = Connection(self._next_connection, ws, request, token)
        self.connections[conn.id] = conn
        self.counters["connections_total"] += 1
        try:
            await self._serve(conn)
        finally:
            self.connections.pop(conn.id, None)
        return ws

    async def _serve(self, conn: Connection) -> None:
        subscription = await self._read_subscription(conn.ws)
        if subscription is None:
            return
        conn.subscription = subscription
        if self.ack_delay:
            await asyncio.sleep(self.ack_delay)
        cursor, resumed = self._resume_cursor(subscription.resume_after)
        try:
            await conn.ws.send_json(
                {"type": "subscribed", "id": subscription.id, "resumed_after": resumed}
            )
        except ConnectionResetError:
            return  # the client gave up waiting (a slow-ack fault)
        conn.acked = True
        sender = asyncio.create_task(self._send_events(conn, cursor))
        reader = asyncio.create_task(self._read_until_closed(conn.ws))
        _, pending = await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _read_subscription(self, ws: web.WebSocketResponse) -> Subscription | None:
        try:
            message = await ws.receive(timeout=SUBSCRIBE_TIMEOUT)
        except TimeoutError:
            await _close(ws, 1008, "no subscription received within 10 s")
            return None
        if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            return None
        try:
            return Subscription.model_validate_json(message.data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            await _close(ws, 1008, f"invalid subscription: {where}: {first['msg']}")
            return None

    def _resume_cursor(self, resume_after: str | None) -> tuple[int, str | None]:
        """The first sequence number to send, and the id the ack reports as resumed after."""
        live = self.last_seq + 1
        if resume_after is None:
            return live, None
        seq = event_seq(resume_after, self.config.run_id)
        if seq is None or seq < self.first_seq - 1 or seq > self.last_seq:
            return live, None
        return seq + 1, resume_after

    async def _read_until_closed(self, ws: web.WebSocketResponse) -> None:
        async for _message in ws:
            pass

    async def _send_events(self, conn: Connection, cursor: int) -> None:
        try:
            while True:
                conn.wakeup.clear()
                while conn.faults:
                    if await self._apply_fault(conn, conn.faults.popleft()):
                        return
                cursor = max(cursor, self.first_seq)
                while cursor <= self.last_seq:
                    event = self.events[cursor - self.first_seq]
                    cursor += 1
                    if conn.subscription.matches(event):
                        await self._send_event(conn, event)
                remaining = self.tokens.get(conn.token, 0) - time.monotonic()
                if remaining <= 0:
                    await _close(conn.ws, 4401, "token expired")
                    return
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, 1.0)):
                        await conn.wakeup.wait()
        except ConnectionResetError:
            return

    async def _send_event(self, conn: Connection, event: dict) -> None:
        text = json.dumps(event)
        encoding = self._encoding_for(event)
        if encoding == "text":
            await conn.ws.send_str(text)
        elif encoding == "binary":
            await conn.ws.send_bytes(text.encode())
        else:
            await conn.ws.send_bytes(base64.b64encode(text.encode()))
        self.counters[f"frames_{encoding}"] += 1
        self.record_sent(event)
        conn.last_sent = event

    def record_sent(self, event: dict) -> None:
        self.counters["sent"] += 1
        if event["id"] in self.sent_ids:
            self.counters["resent"] += 1
        self.sent_ids.add(event["id"])

    def _encoding_for(self, event: dict) -> str:
        if self.config.encoding != "mixed":
            return self.config.encoding
        return ("text", "binary", "base64")[event_seq(event["id"], self.config.run_id) % 3]

    # Faults

    def inject(self, fault: dict) -> None:
        """Apply a fault (see FAULTS); raises ValueError for one that is not understood."""
        action = fault.get("action")
        if action not in FAULTS:
            raise ValueError(f"unknown fault {action!r}: use one of {', '.join(FAULTS)}")
        self.counters[f"fault_{action}"] += 1
        if action == "expire_tokens":
            self.tokens = dict.fromkeys(self.tokens, 0.0)
        elif action in ("token", "handshake"):
            queue = self.token_faults if action == "token" else self.handshake_faults
            entry = {
                "status": int(fault.get("status", 429)),
                "retry_after": fault.get("retry_after"),
            }
            queue.extend([entry] * int(fault.get("count", 1)))
            return
        elif action == "saturate":
            self.other_streams = int(fault.get("streams", self.config.max_concurrent_streams))
            return
        elif action == "knowledge":
            self.knowledge.configure(fault)
            return
        elif action == "change_assistant":
            self.assistants.change()
            return
        elif action in NOTIFICATION_FAULTS:
            self.notifications.inject(fault)
            return
        elif action == "drop":
            self.knowledge.drop()
            self.notifications.drop()
        elif action == "close":
            code, reason = int(fault.get("code", 1011)), str(fault.get("reason", ""))
            self._spawn(self.knowledge.close(code, reason))
            self._spawn(self.notifications.close(code, reason))
        elif action == "ack_delay":
            self.ack_delay = float(fault.get("seconds", 0))
            return
        elif action == "restart":
            self._spawn(self.restart(float(fault.get("seconds", 1))))
            return
        elif action == "inject" and fault.get("kind") not in INJECTIONS:
            raise ValueError(f"unknown injection {fault.get('kind')!r}: use one of {INJECTIONS}")
        for conn in self.connections.values():
            conn.faults.append(fault)
            conn.wakeup.set()

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _apply_fault(self, conn: Connection, fault: dict) -> bool:
        """Apply a per-socket fault; True when the socket is gone afterwards."""
        action = fault["action"]
        if action == "drop":
            conn.request.transport.abort()
            return True
        if action == "close":
            await _close(conn.ws, int(fault.get("code", 1011)), str(fault.get("reason", "")))
            return True
        if action == "inject":
            await self._send_injection(conn, fault["kind"])
        return False

    async def _send_injection(self, conn: Connection, kind: str) -> None:
        self.counters[f"injected_{kind}"] += 1
        if kind == "malformed-json":
            await conn.ws.send_str('{"type": "agentassist.insight", "id": ')
        elif kind == "bad-base64":
            await conn.ws.send_bytes(b"!!not*base64*at*all!!")
        elif kind == "not-an-object":
            await conn.ws.send_str("[1, 2, 3]")
        elif kind == "no-type":
            await conn.ws.send_str('{"interaction_id": "interaction-12345"}')
        elif kind == "oversized":
            filler = "x" * self.config.oversized_bytes
            junk = {"type": "agentassist.insight", "id": f"junk-{secrets.token_hex(4)}"}
            await conn.ws.send_str(json.dumps({**junk, "content": {"text": filler}}))
        elif kind == "duplicate" and conn.last_sent is not None:
            await self._send_event(conn, conn.last_sent)

    # Control API

    async def stats_view(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats(include_ids=request.query.get("ids") == "1"))

    def stats(self, *, include_ids: bool = False) -> dict:
        body = {
            "generated": self.generator.seq,
            "first_retained": self.events[0]["id"] if self.events else None,
            "last_id": self.events[-1]["id"] if self.events else None,
            "sent_unique": len(self.sent_ids),
            "connections": len(self.connections),
            # Sockets whose subscription is acknowledged: events emitted from now reach them.
            "subscribed": sum(conn.acked for conn in self.connections.values()),
            "knowledge_sockets": len(self.knowledge.sockets),
            **self.notifications.stats(),
            **dict(self.counters),
        }
        if include_ids:
            body["sent_ids"] = sorted(self.sent_ids)
        return body

    async def emit_view(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        count = body.get("count", 1)
        if not isinstance(count, int) or not 0 < count <= 1_000_000:
            return web.json_response({"error": "count must be 1..1000000"}, status=400)
        overrides = body.get("event", {})
        if not isinstance(overrides, dict):
            return web.json_response({"error": "event must be an object of fields"}, status=400)
        self.emit(count, overrides)
        return web.json_response({"generated": self.generator.seq})

    async def faults_view(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        try:
            self.inject(body)
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"applied": body.get("action")})


async def _json_body(request: web.Request) -> dict:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def _basic_credentials(request: web.Request) -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None, None
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, _, client_secret = decoded.partition(":")
    return client_id, client_secret


def _error_response(status: int, retry_after: float | None) -> web.Response:
    headers = {}
    body = {"message": f"HTTP {status}", "status": status}
    if status == 429:
        headers["Retry-After"] = str(int(retry_after if retry_after is not None else 1))
        body = {
            "message": "Rate limit exceeded",
            "code": "too.many.requests.retry.after",
            "status": 429,
        }
    elif status == 401:
        body = {"error": "invalid_client"}
    return web.json_response(body, status=status, headers=headers)


async def _close(ws: web.WebSocketResponse, code: int, reason: str) -> None:
    data = reason.encode()[:CLOSE_REASON_BYTES]
    await ws.close(code=code, message=data.decode(errors="ignore").encode())
