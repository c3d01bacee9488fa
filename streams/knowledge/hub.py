"""The process's knowledge clients: one per knowledge stream, on one event loop in a thread
of their own, shared by the web pages and (in the embedded mode) the worker."""

import asyncio
import threading

import httpx

from streams import outbound
from streams.genesys.auth import TokenPool
from streams.genesys.knowledge import KnowledgeClient, SearchRequest
from streams.genesys.knowledge_rest import RestKnowledgeClient
from streams.knowledge.specs import KnowledgeSpec
from streams.worker.specs import client_settings

RETIRE_AFTER_SECONDS = 130.0  # above the highest query timeout (120 s)


class KnowledgeHub:
    """The process's knowledge clients, on one event loop in a thread of their own.

    A request can reach an async view on a loop that lives only as long as the request
    (Django runs async views that way behind sync-only middleware), so clients that keep a
    socket open and count slots across requests cannot live on the caller's loop. Callers on
    any loop hand their query over and await the outcome; cancelling the wait cancels it.
    """

    _instance: "KnowledgeHub | None" = None
    _lock = threading.Lock()

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.clients: dict[int, tuple[tuple, KnowledgeClient | RestKnowledgeClient]] = {}
        self.http: httpx.AsyncClient | None = None
        self.tokens = TokenPool()
        self.thread = threading.Thread(target=self.loop.run_forever, name="knowledge", daemon=True)
        self.thread.start()

    @classmethod
    def current(cls) -> "KnowledgeHub":
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    async def call(self, coroutine):
        """Run `coroutine` on the hub's loop and wait for it from the caller's loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    async def query(self, spec: "KnowledgeSpec", request: SearchRequest, *, wait: bool):
        return await self.call(self._query(spec, request, wait))

    async def _query(self, spec, request, wait):
        return await self.client(spec).query(request, within=spec.timeout, wait=wait)

    async def watch(self, spec: "KnowledgeSpec", on_state) -> None:
        """Keep the stream's connection open and report its state changes to `on_state`."""
        await self.call(self._watch(spec, on_state))

    async def _watch(self, spec, on_state):
        client = self.client(spec)
        client.on_state = client.on_state or on_state
        client.start()

    def client(self, spec: "KnowledgeSpec") -> KnowledgeClient | RestKnowledgeClient:
        """(On the hub's loop.) The stream's client, new when its connection settings changed."""
        known = self.clients.get(spec.stream_id)
        if known is not None and known[0] == spec.client_key:
            return known[1]
        if known is not None:
            self._retire(known[1])
        if self.http is None:
            self.http = outbound.http_client(outbound.genesys_hosts(), timeout=httpx.Timeout(15.0))
        tokens = spec.connection.tokens(self.tokens, self.http)
        if spec.connection.notifications:
            client = RestKnowledgeClient(
                http=self.http,
                tokens=tokens,
                api_base_url=spec.connection.api_url,
                max_in_flight=spec.max_in_flight,
            )
        else:
            client = KnowledgeClient(
                tokens=tokens,
                api_base_url=spec.connection.api_url,
                max_in_flight=spec.max_in_flight,
                settings=client_settings(),
            )
        self.clients[spec.stream_id] = (spec.client_key, client)
        return client

    def _retire(self, client: KnowledgeClient | RestKnowledgeClient) -> None:
        # Queries already on the old client finish there: it closes once the longest
        # query timeout an admin can set has passed.
        async def close_later():
            await asyncio.sleep(RETIRE_AFTER_SECONDS)
            await client.close()

        task = self.loop.create_task(close_later())
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def close(self) -> None:
        """Close every client (their sockets too); the hub stays usable."""
        await self.call(self._close())

    async def _close(self):
        clients, self.clients = self.clients, {}
        for _, client in clients.values():
            await client.close()


_background: set[asyncio.Task] = set()
