"""The simulator's knowledge search WebSocket (PROTOCOL.md section 1.3).

A seeded corpus per knowledge base (titles, snippets, urls; some documents stale, some with
a missing or unparseable lastUpdated), answers scored by word overlap with a spread of
confidence, the server's in-flight limit with `too_many_requests`, `invalid_payload`,
`unknown_knowledge_base`, and knobs for tests: answer delay, not echoing `queryId`,
swallowing queries (so they time out).
"""

import asyncio
import json
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiohttp import WSMsgType, web
from pydantic import ValidationError

from streams.genesys.knowledge import MESSAGE_ERROR, MESSAGE_RESPONSE, SearchRequest
from streams.simulator import texts

KNOWLEDGE_BASES = {
    "kb-1": "Billing and refunds",
    "kb-2": "Plans and roaming",
    "kb-3": "Accounts and security",
    # Seed 2's own example names these, so its client gets answers too (after kb-1..3, so
    # their documents stay the same for a seed).
    "kb-uuid-1": "Billing and refunds",
    "kb-uuid-2": "Plans and roaming",
}
DOCUMENTS_PER_BASE = 30
WORD = re.compile(r"[a-z0-9]+")


@dataclass
class KnowledgeSettings:
    """What a test or an operator can change while the simulator runs."""

    limit: int = 5  # queries in flight per socket before too_many_requests
    delay: float = 0.05  # seconds before each answer
    echo_query_id: bool = True
    swallow: int = 0  # the next n queries get no answer at all


def build_corpus(seed: int) -> dict[str, list[dict]]:
    """Documents per knowledge base; the same seed gives the same corpus."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    corpus = {}
    for kb, topic in KNOWLEDGE_BASES.items():
        documents = []
        for n in range(DOCUMENTS_PER_BASE):
            text = rng.choice(texts.KNOWLEDGE)
            title = f"{topic}: {' '.join(text.split()[:6]).rstrip(':,.')}"
            documents.append(
                {
                    "documentId": f"{kb}-doc-{n:03d}",
                    "title": title,
                    "snippet": text,
                    "url": f"https://kb.example.com/{kb}/{n:03d}",
                    "knowledgeBaseId": kb,
                    "lastUpdated": _last_updated(rng, now),
                    "_words": set(WORD.findall(f"{title} {text}".lower())),
                    "_quality": rng.uniform(0.55, 1.0),
                }
            )
        corpus[kb] = documents
    return corpus


def _last_updated(rng: random.Random, now: datetime):
    roll = rng.random()
    if roll < 0.04:
        return None  # missing
    if roll < 0.07:
        return "last Tuesday"  # unparseable
    days = rng.uniform(0, 60) if roll < 0.8 else rng.uniform(120, 800)  # ~20% stale
    return (now - timedelta(days=days)).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(eq=False)
class KnowledgeSocket:
    ws: web.WebSocketResponse
    request: web.Request
    in_flight: int = 0
    tasks: set = field(default_factory=set)


class KnowledgeService:
    def __init__(self, simulator, seed: int):
        self.simulator = simulator
        self.settings = KnowledgeSettings()
        self.corpus = build_corpus(seed)
        self.sockets: set[KnowledgeSocket] = set()
        self.queries: list[dict] = []  # every SUBSCRIBE received, for tests and stats

    @property
    def counters(self):
        return self.simulator.counters

    def configure(self, fault: dict) -> None:
        for name in ("limit", "delay", "echo_query_id", "swallow"):
            if name in fault:
                kind = type(getattr(self.settings, name))
                setattr(self.settings, name, kind(fault[name]))

    async def socket(self, request: web.Request) -> web.StreamResponse:
        if self.simulator._token_valid(request) is None:
            self.counters["handshakes_refused"] += 1
            return web.json_response({"message": "invalid or expired token"}, status=401)
        ws = web.WebSocketResponse(autoping=True, max_msg_size=64 * 1024)
        await ws.prepare(request)
        sock = KnowledgeSocket(ws, request)
        self.sockets.add(sock)
        self.counters["knowledge_connections"] += 1
        try:
            async for message in ws:
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                if not await self._receive(sock, message.data):
                    break
        finally:
            self.sockets.discard(sock)
            for task in sock.tasks:
                task.cancel()
        return ws

    async def _receive(self, sock: KnowledgeSocket, data: str | bytes) -> bool:
        """Handle one frame; False when the socket was closed for it."""
        try:
            message = json.loads(data)
            if not isinstance(message, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError):
            await sock.ws.close(code=1008, message=b"unparseable frame")
            return False
        self.counters["knowledge_queries"] += 1
        self.queries.append(message)
        reply = {
            "queryId": message.get("queryId"),
            "conversationId": message.get("conversationId"),
        }
        if not self.settings.echo_query_id:
            reply.pop("queryId")
        try:
            query = SearchRequest.model_validate(message)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            await self._error(sock, reply, "invalid_payload", f"{where}: {first['msg']}")
            return True
        unknown = [
            s.knowledge_base_id
            for s in query.knowledge_sources
            if s.knowledge_base_id not in self.corpus
        ]
        if unknown:
            await self._error(sock, reply, "unknown_knowledge_base", f"unknown: {unknown[0]}")
            return True
        if sock.in_flight >= self.settings.limit:
            limit = self.settings.limit
            await self._error(sock, reply, "too_many_requests", f"more than {limit} in flight")
            return True
        if self.settings.swallow > 0:
            self.settings.swallow -= 1
            self.counters["knowledge_swallowed"] += 1
            return True
        sock.in_flight += 1
        task = asyncio.create_task(self._answer(sock, query, reply))
        sock.tasks.add(task)
        task.add_done_callback(sock.tasks.discard)
        return True

    async def _answer(self, sock: KnowledgeSocket, query: SearchRequest, reply: dict) -> None:
        try:
            await asyncio.sleep(self.settings.delay)
            results = self.search(query)
            await sock.ws.send_json({"messageType": MESSAGE_RESPONSE, **reply, "results": results})
            self.counters["knowledge_answers"] += 1
        except ConnectionResetError:
            pass
        finally:
            sock.in_flight -= 1

    async def _error(self, sock: KnowledgeSocket, reply: dict, code: str, text: str) -> None:
        self.counters[f"knowledge_error_{code}"] += 1
        await sock.ws.send_json(
            {"messageType": MESSAGE_ERROR, **reply, "code": code, "message": text}
        )

    def search(self, query: SearchRequest) -> list[dict]:
        """The best documents over the requested bases, threshold not applied: the client
        decides what is good enough."""
        bases = [source.knowledge_base_id for source in query.knowledge_sources]
        return [
            {**{k: v for k, v in doc.items() if not k.startswith("_")}, "confidenceScore": score}
            for score, doc in self.rank(query.query_text, bases)[: query.max_results]
        ]

    def rank(self, text: str, bases: list[str]) -> list[tuple[float, dict]]:
        """(confidence, document) over the bases, best first: confidence grows with the
        share of the query's words the document has, times the document's quality."""
        words = set(WORD.findall(text.lower()))
        scored = []
        for base in bases:
            for doc in self.corpus[base]:
                overlap = len(words & doc["_words"]) / max(1, len(words))
                confidence = round(min(1.0, 0.3 + 0.7 * overlap) * doc["_quality"], 3)
                scored.append((confidence, doc))
        scored.sort(key=lambda item: (-item[0], item[1]["documentId"]))
        return scored

    def drop(self) -> None:
        for sock in list(self.sockets):
            sock.request.transport.abort()

    async def close(self, code: int, reason: str) -> None:
        for sock in list(self.sockets):
            await sock.ws.close(code=code, message=reason.encode())
