"""Knowledge queries end to end: cache, the knowledge client, validation, the record.

Every query, from the console, the API or the warmer, goes through `knowledge_search`:
the answer comes from the cache or from Genesys, its results are validated against the
stream's rules, and a `KnowledgeQuery` row (seed 2's audit record) is written together with
its audit entry and its webhook deliveries, in one transaction.

Each process keeps one knowledge client per stream and event loop (`KnowledgeHub`); in
the embedded mode the web pages and the worker share it. ORM work goes through asgiref's
`sync_to_async`, as in Django's own async views: the request (or the worker's periodic
`close_old_connections`) owns the connection's lifetime.
"""

import asyncio
import hashlib
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import models, transaction
from django.db.models import Count, Max, Sum
from django.dispatch import Signal
from django.utils import timezone
from pydantic import ValidationError as PydanticValidationError

from streams import live, outbound, webhooks
from streams.genesys.auth import TokenPool
from streams.genesys.insights import StreamState
from streams.genesys.knowledge import (
    QUERY_TEXT_LIMIT,
    Governance,
    KnowledgeClient,
    QueryFailed,
    Rules,
    SearchRequest,
    check_results,
    governance_status,
    sources_in_order,
    top_confidence,
)
from streams.genesys.knowledge_rest import RestKnowledgeClient
from streams.genesys.scoring import extract_snippet
from streams.models import (
    GenesysConnection,
    Insight,
    KnowledgeQuery,
    KnowledgeStream,
    WebhookEndpoint,
)
from streams.runner import client_settings
from streams.times import iso

logger = logging.getLogger(__name__)

# Sent inside the transaction that stores a KnowledgeQuery. Arguments: query, client_address.
knowledge_queried = Signal()

WARMING_CONVERSATION = "assistgov-warming"
CACHE_PREFIX = "knowledge:"
RETIRE_AFTER_SECONDS = 130.0  # above the highest query timeout (120 s)


class KnowledgeError(Exception):
    """A query that could not be answered: `status` is the HTTP status for the API."""

    def __init__(self, message: str, *, status: int, code: str, field: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field


# How each way a query can fail reaches an API caller.
FAILURE_STATUS = {
    "busy": (KnowledgeQuery.Status.BUSY, 429),
    "timeout": (KnowledgeQuery.Status.TIMEOUT, 504),
    "error": (KnowledgeQuery.Status.ERROR, 502),
    "lost": (KnowledgeQuery.Status.LOST, 502),
    "unavailable": (KnowledgeQuery.Status.UNAVAILABLE, 503),
}


def normalise(text: str) -> str:
    return " ".join(text.split()).lower()


@dataclass(frozen=True)
class KnowledgeSpec:
    stream_id: int
    name: str
    token_url: str
    api_url: str
    client_id: str
    client_secret: str = field(repr=False)
    flavour: str = GenesysConnection.Flavour.SEED
    priorities: tuple[tuple[str, int], ...] = ()
    max_results: int = 5
    confidence_threshold: float = 0.75
    language: str = "en-US"
    freshness_days: int = 90
    max_in_flight: int = 5
    timeout: float = 15.0
    cache_ttl: int = 300
    auto_query_types: frozenset[str] = frozenset()
    problem: str = ""

    @property
    def client_key(self) -> tuple:
        """What the connection depends on: a change here needs a new client."""
        return (
            self.flavour,
            self.api_url,
            self.token_url,
            self.client_id,
            self.client_secret,
            self.max_in_flight,
        )

    @property
    def rules(self) -> Rules:
        return Rules(
            confidence_threshold=self.confidence_threshold,
            freshness_days=self.freshness_days,
            priorities=dict(self.priorities),
        )

    def request(self, text: str, conversation_id: str) -> SearchRequest:
        return SearchRequest(
            query_id=uuid.uuid4().hex,
            conversation_id=conversation_id,
            query_text=text,
            knowledge_sources=list(sources_in_order(dict(self.priorities))),
            max_results=self.max_results,
            confidence_threshold=self.confidence_threshold,
            language=self.language,
        )

    def cache_key(self, text: str) -> str:
        """The normalised query, the sources with priorities, threshold, language, size."""
        material = [
            normalise(text),
            sorted(self.priorities),
            self.confidence_threshold,
            self.language,
            self.max_results,
        ]
        return hashlib.sha256(json.dumps(material).encode()).hexdigest()


def knowledge_spec(stream: KnowledgeStream) -> KnowledgeSpec:
    """The spec of one knowledge stream (sync). What stops it from running is a `problem`."""
    connection = stream.connection
    secret, problem = connection.secret_or_problem()
    priorities = stream.priorities()
    if not priorities:
        problem = problem or "the stream has no enabled knowledge source"
    if not stream.enabled:
        problem = "the stream is disabled"
    return KnowledgeSpec(
        stream_id=stream.pk,
        name=stream.name,
        token_url=connection.token_url,
        api_url=connection.api_url,
        client_id=connection.client_id,
        client_secret=secret,
        flavour=connection.flavour,
        priorities=tuple(sorted(priorities.items())),
        max_results=stream.max_results,
        confidence_threshold=stream.confidence_threshold,
        language=stream.language,
        freshness_days=stream.freshness_days,
        max_in_flight=stream.max_in_flight,
        timeout=stream.query_timeout_seconds,
        cache_ttl=stream.cache_ttl_seconds,
        auto_query_types=frozenset(stream.auto_query_types),
        problem=problem,
    )


def load_spec(name: str) -> KnowledgeSpec:
    stream = KnowledgeStream.objects.select_related("connection").filter(name=name).first()
    if stream is None:
        raise KnowledgeError(
            f"no knowledge stream named {name[:100]!r}",
            status=400,
            code="unknown_stream",
            field="stream",
        )
    return knowledge_spec(stream)


def enabled_specs() -> list[KnowledgeSpec]:
    streams = KnowledgeStream.objects.filter(enabled=True).select_related("connection")
    return [knowledge_spec(stream) for stream in streams]


# One client per stream, on the process's knowledge loop


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
        tokens = self.tokens.manager(
            self.http,
            token_url=spec.token_url,
            client_id=spec.client_id,
            client_secret=spec.client_secret,
        )
        if spec.flavour == GenesysConnection.Flavour.NOTIFICATIONS:
            client = RestKnowledgeClient(
                http=self.http,
                tokens=tokens,
                api_base_url=spec.api_url,
                max_in_flight=spec.max_in_flight,
            )
        else:
            client = KnowledgeClient(
                tokens=tokens,
                api_base_url=spec.api_url,
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


# Queries


async def knowledge_search(
    *,
    spec: KnowledgeSpec,
    text: str,
    conversation_id: str,
    origin: str,
    requested_by: str,
    wait: bool = True,
    use_cache: bool = True,
    client_address: str | None = None,
    insight_id: int | None = None,
) -> KnowledgeQuery:
    """Run one query and record it. Raises KnowledgeError when there is no answer (the
    failure is recorded too, when it reached the point of asking)."""
    if spec.problem:
        raise KnowledgeError(
            f"knowledge stream {spec.name} cannot take queries: {spec.problem}",
            status=503,
            code="unavailable",
        )
    request = spec.request(text, conversation_id)  # raises pydantic's ValidationError
    key = spec.cache_key(request.query_text)
    started = time.monotonic()
    entry = await cache.aget(CACHE_PREFIX + key) if use_cache and spec.cache_ttl else None
    record = dict(
        spec=spec,
        request=request,
        key=key,
        origin=origin,
        requested_by=requested_by,
        client_address=client_address,
        insight_id=insight_id,
    )
    if entry is not None:
        latency = (time.monotonic() - started) * 1000
        return await _record(**record, results=entry["results"], latency=latency, cache_hit=True)
    try:
        answer = await KnowledgeHub.current().query(spec, request, wait=wait)
    except QueryFailed as exc:
        status, http_status = FAILURE_STATUS[exc.kind]
        latency = (time.monotonic() - started) * 1000
        logger.warning(
            "knowledge %s: query %s for %s ended without an answer (%s): %s",
            spec.name,
            request.query_id,
            requested_by,
            status,
            exc,
        )
        await _record(**record, results=[], latency=latency, status=status, failure=exc)
        raise KnowledgeError(str(exc), status=http_status, code=exc.code or exc.kind) from None
    if spec.cache_ttl:
        await cache.aset(
            CACHE_PREFIX + key,
            {
                "results": answer.results,
                "text": request.query_text,
                "expires_at": time.time() + spec.cache_ttl,
            },
            spec.cache_ttl,
        )
    return await _record(
        **record, results=answer.results, latency=answer.latency_ms, attempts=answer.attempts
    )


async def _record(
    *,
    spec: KnowledgeSpec,
    request: SearchRequest,
    key: str,
    origin: str,
    requested_by: str,
    client_address: str | None,
    insight_id: int | None,
    results: list,
    latency: float,
    cache_hit: bool = False,
    attempts: int = 0,
    status: str = KnowledgeQuery.Status.ANSWERED,
    failure: QueryFailed | None = None,
) -> KnowledgeQuery:
    checked = check_results(results, spec.rules) if failure is None else []
    governance = governance_status(checked).value if failure is None else ""
    query = KnowledgeQuery(
        stream_id=spec.stream_id,
        query_id=request.query_id,
        conversation_id=request.conversation_id,
        query_text=request.query_text,
        cache_key=key,
        origin=origin,
        requested_by=requested_by[:150],
        status=status,
        error_code=(failure.code or failure.kind)[:64] if failure else "",
        error_message=str(failure)[:500] if failure else "",
        governance_status=governance,
        cache_hit=cache_hit,
        results_returned=len(results),
        results_validated=sum(1 for c in checked if c.rank is not None),
        latency_ms=latency,
        attempts=attempts,
        results=[c.as_dict() for c in checked],
        top_confidence=top_confidence(checked),
        insight_id=insight_id,
        created_at=timezone.now(),
        **review_fields(origin, governance),
    )
    return await sync_to_async(store_query)(query, client_address)


FILTERED_RULE = "knowledge governance: no result passed the stream's rules"


def review_fields(origin: str, governance: str) -> dict:
    """Answers an agent received join the review queue: pending when something passed,
    filtered (by the governance rules) when nothing did. Other queries are not reviewed."""
    if origin not in KnowledgeQuery.REVIEWED_ORIGINS or not governance:
        return {}
    if governance == Governance.PASS:
        return {"review_status": KnowledgeQuery.ReviewStatus.PENDING}
    return {
        "review_status": KnowledgeQuery.ReviewStatus.FILTERED,
        "reviewed_at": timezone.now(),
        "review_rule": FILTERED_RULE,
    }


def store_query(query: KnowledgeQuery, client_address: str | None = None) -> KnowledgeQuery:
    """Save the query with its audit entry and webhook deliveries, in one transaction."""
    with transaction.atomic():
        query.save()
        knowledge_queried.send(sender=KnowledgeQuery, query=query, client_address=client_address)
        if query.review_status:
            transaction.on_commit(partial(live.announce_knowledge, [query.pk]))
        if query.governance_status == Governance.PASS:
            webhooks.enqueue(WebhookEndpoint.Event.KNOWLEDGE_VALIDATED, [query_data(query)])
    return query


def query_data(query: KnowledgeQuery) -> dict:
    return {
        **query.audit_fields(),
        "stream": query.stream.name,
        "query_text": query.query_text,
        "results": query.passed_results(),
    }


def knowledge_review_data(query: KnowledgeQuery) -> dict:
    """A knowledge answer's webhook payload once an officer decided it."""
    return {
        **query_data(query),
        "origin": query.origin,
        "insight_id": query.insight_id,
        "review_status": query.review_status,
        "reviewed_by": query.reviewed_by.get_username() if query.reviewed_by_id else None,
        "reviewed_at": iso(query.reviewed_at),
        "reason_code": query.review_reason_code,
        "note": query.review_note,
    }


# Warming: the worker re-runs popular queries shortly before their answers expire.


def warming_candidates(spec: KnowledgeSpec, *, window: float, top: int) -> list[tuple[str, str]]:
    """(cache key, query text) of the most frequent recent queries, most frequent first."""
    since = timezone.now() - timedelta(seconds=window)
    rows = (
        KnowledgeQuery.objects.filter(stream_id=spec.stream_id, created_at__gte=since)
        .exclude(origin=KnowledgeQuery.Origin.WARMING)
        .values("cache_key")
        .annotate(times=Count("pk"), text=Max("query_text"))
        .order_by("-times", "cache_key")[:top]
    )
    return [(row["cache_key"], row["text"]) for row in rows]


class KnowledgeWarmer:
    """In the stream worker: keeps each enabled knowledge stream's connection open, reports
    its state, and refreshes the cache entries of its most frequent queries before they
    expire. Several workers share the work: each entry is claimed in the cache first."""

    def __init__(self, *, worker: str):
        self.worker = worker
        self.interval = settings.KNOWLEDGE_WARM_INTERVAL_SECONDS
        self.window = settings.KNOWLEDGE_WARM_WINDOW_SECONDS
        self.top = settings.KNOWLEDGE_WARM_TOP

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except Exception:
                logger.exception("knowledge warming failed; trying again in %g s", self.interval)
            await asyncio.sleep(self.interval)

    async def step(self) -> int:
        """One pass over the enabled streams; returns how many queries were re-run."""
        warmed = 0
        for spec in await sync_to_async(enabled_specs)():
            if spec.problem:
                await _set_state(spec.stream_id, StreamState.ERROR, spec.problem)
                continue
            await self._watch(spec)
            if spec.cache_ttl:
                warmed += await self._warm(spec)
        return warmed

    async def _watch(self, spec: KnowledgeSpec) -> None:
        async def report(state, detail, stream_id=spec.stream_id):
            await _set_state(stream_id, state, detail)

        await KnowledgeHub.current().watch(spec, report)

    async def _warm(self, spec: KnowledgeSpec) -> int:
        lead = min(2 * self.interval, spec.cache_ttl / 2)
        candidates = await sync_to_async(warming_candidates)(spec, window=self.window, top=self.top)
        warmed = 0
        for key, text in candidates:
            entry = await cache.aget(CACHE_PREFIX + key)
            if entry is None or entry["expires_at"] - time.time() > lead:
                continue  # gone (not popular enough to keep) or not due yet
            if not await cache.aadd(f"knowledge-warming:{key}", self.worker, timeout=lead):
                continue  # another worker has it
            try:
                await knowledge_search(
                    spec=spec,
                    text=text,
                    conversation_id=WARMING_CONVERSATION,
                    origin=KnowledgeQuery.Origin.WARMING,
                    requested_by=f"knowledge warmer {self.worker}",
                    use_cache=False,
                )
                warmed += 1
            except KnowledgeError as exc:
                logger.warning("knowledge %s: warming %r failed: %s", spec.name, text[:40], exc)
        return warmed


# Automatic queries: new insights of chosen types are searched with their text.


def insight_query_text(insight: Insight) -> str:
    """What an automatic query asks: the insight's content text, up to the query limit."""
    content = insight.payload.get("content") if isinstance(insight.payload, dict) else None
    return extract_snippet(content, limit=QUERY_TEXT_LIMIT) or insight.snippet


def insights_to_search(insight_ids: list[int], types: set[str]) -> list[Insight]:
    """The insights among these ids that automatic queries are for: of the chosen types, and
    not filtered out by their confidence matrix."""
    return list(
        Insight.objects.filter(pk__in=insight_ids, insight_type__in=types)
        .exclude(review_status=Insight.ReviewStatus.FILTERED)
        .only("pk", "insight_type", "interaction_id", "snippet", "payload")
        .order_by("pk")
    )


class InsightQueries:
    """In the stream worker: each new insight of a type a knowledge stream names in its
    `auto_query_types` is searched on that stream, with the insight's text, for the
    insight's conversation; the answer is recorded and joins the review queue.

    Runners hand over the ids they stored (`offer`, never blocking ingestion). Insights
    beyond the backlog are skipped with a warning: an answer comes too late to help once
    the conversation has moved on, and ingestion must not wait for knowledge search.
    """

    SPECS_MAX_AGE = 5.0

    def __init__(self, *, worker: str):
        self.worker = worker
        self.backlog = settings.KNOWLEDGE_AUTO_BACKLOG
        self.slots = asyncio.Semaphore(settings.KNOWLEDGE_AUTO_CONCURRENCY)
        self.queue: asyncio.Queue[list[int]] = asyncio.Queue()
        self.waiting = 0
        self.skipped = 0
        self.tasks: set[asyncio.Task] = set()
        self._specs: list[KnowledgeSpec] = []
        self._specs_at = float("-inf")
        self._warned_at = float("-inf")

    def offer(self, insight_ids: list[int]) -> None:
        """(On the worker's loop.) Take newly stored insights; never waits."""
        if not insight_ids:
            return
        if self.waiting + len(insight_ids) > self.backlog:
            self.skipped += len(insight_ids)
            now = time.monotonic()
            if now - self._warned_at > 10:
                self._warned_at = now
                logger.warning(
                    "automatic knowledge queries: %d insights waiting, the backlog limit is %d; "
                    "%d skipped so far (raise KNOWLEDGE_AUTO_CONCURRENCY or the streams' "
                    "in-flight limits, or narrow auto_query_types)",
                    self.waiting,
                    self.backlog,
                    self.skipped,
                )
            return
        self.waiting += len(insight_ids)
        self.queue.put_nowait(list(insight_ids))

    async def run(self) -> None:
        try:
            while True:
                ids = await self.queue.get()
                try:
                    await self.dispatch(ids)
                except Exception:
                    logger.exception("automatic knowledge queries for %d insights failed", len(ids))
                finally:
                    self.waiting -= len(ids)
        finally:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    async def dispatch(self, insight_ids: list[int]) -> int:
        """Start the queries for these insights; returns how many were started."""
        specs = [spec for spec in await self.specs() if spec.auto_query_types]
        if not specs:
            return 0
        types = set().union(*(spec.auto_query_types for spec in specs))
        started = 0
        for insight in await sync_to_async(insights_to_search)(insight_ids, types):
            for spec in specs:
                if insight.insight_type in spec.auto_query_types:
                    await self.slots.acquire()
                    task = asyncio.create_task(self._ask(spec, insight))
                    self.tasks.add(task)
                    task.add_done_callback(self._done)
                    started += 1
        return started

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        self.slots.release()

    async def specs(self) -> list[KnowledgeSpec]:
        if time.monotonic() - self._specs_at > self.SPECS_MAX_AGE:
            self._specs = await sync_to_async(enabled_specs)()
            self._specs_at = time.monotonic()
        return self._specs

    async def _ask(self, spec: KnowledgeSpec, insight: Insight) -> None:
        text = insight_query_text(insight)
        try:
            await knowledge_search(
                spec=spec,
                text=text,
                conversation_id=insight.interaction_id,
                origin=KnowledgeQuery.Origin.INSIGHT,
                requested_by=f"insight {insight.pk} ({insight.insight_type})",
                insight_id=insight.pk,
            )
        except KnowledgeError:
            pass  # recorded, and logged, by knowledge_search
        except PydanticValidationError as exc:
            logger.info(
                "knowledge %s: insight %s not searched: its text %r is not a valid query (%s)",
                spec.name,
                insight.pk,
                text[:40],
                exc.errors()[0]["msg"],
            )
        except Exception:
            logger.exception("knowledge %s: automatic query for insight %s", spec.name, insight.pk)


@sync_to_async
def _set_state(stream_id: int, state: StreamState, detail: str) -> None:
    KnowledgeStream.objects.filter(pk=stream_id).exclude(
        state=state.value, state_detail=detail[:500]
    ).update(state=state.value, state_detail=detail[:500], state_changed_at=timezone.now())


# Figures for the admin page and /metrics


LATENCY_SAMPLE = 1000


def knowledge_metrics(stream_id: int) -> dict:
    """Queries and their outcomes; latency percentiles over the last 1,000 answered ones.

    The seed's "accuracy rate" is defined honestly: validated results over returned results.
    """
    rows = KnowledgeQuery.objects.filter(stream_id=stream_id)
    by_status = dict(rows.values_list("status").annotate(n=Count("pk")).order_by())
    totals = rows.aggregate(
        queries=Count("pk"),
        cache_hits=Count("pk", filter=models.Q(cache_hit=True)),
        returned=Sum("results_returned"),
        validated=Sum("results_validated"),
    )
    latencies = sorted(
        rows.filter(status=KnowledgeQuery.Status.ANSWERED)
        .order_by("-created_at")
        .values_list("latency_ms", flat=True)[:LATENCY_SAMPLE]
    )
    answered = by_status.get(KnowledgeQuery.Status.ANSWERED, 0)
    return {
        "queries": totals["queries"],
        "answered": answered,
        "timed_out": by_status.get(KnowledgeQuery.Status.TIMEOUT, 0),
        "errors": totals["queries"] - answered - by_status.get(KnowledgeQuery.Status.TIMEOUT, 0),
        "latency_p50_ms": _percentile(latencies, 0.50),
        "latency_p95_ms": _percentile(latencies, 0.95),
        "validated_ratio": _ratio(totals["validated"], totals["returned"]),
        "cache_hit_ratio": _ratio(totals["cache_hits"], answered),
    }


def _percentile(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _ratio(part, whole) -> float | None:
    return (part or 0) / whole if whole else None
