"""Warming: the worker keeps each enabled knowledge stream's connection open, reports its
state, and re-runs popular queries shortly before their cached answers expire."""

import asyncio
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max
from django.utils import timezone

from assistgov.asyncdb import database_sync_to_async
from streams.knowledge.hub import KnowledgeHub
from streams.knowledge.models import KnowledgeQuery, KnowledgeStream
from streams.knowledge.search import CACHE_PREFIX, KnowledgeError, knowledge_search
from streams.knowledge.specs import KnowledgeSpec, enabled_specs
from streams.worker.models import StreamState

logger = logging.getLogger(__name__)

WARMING_CONVERSATION = "assistgov-warming"


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
        for spec in await database_sync_to_async(enabled_specs)():
            if spec.problem:
                await knowledge_state_report(spec.stream_id, StreamState.ERROR, spec.problem)
                continue
            await self._watch(spec)
            if spec.cache_ttl:
                warmed += await self._warm(spec)
        return warmed

    async def _watch(self, spec: KnowledgeSpec) -> None:
        async def report(state, detail, stream_id=spec.stream_id):
            await knowledge_state_report(stream_id, state, detail)

        await KnowledgeHub.current().watch(spec, report)

    async def _warm(self, spec: KnowledgeSpec) -> int:
        lead = min(2 * self.interval, spec.cache_ttl / 2)
        candidates = await database_sync_to_async(warming_candidates)(
            spec, window=self.window, top=self.top
        )
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
                    requested_by=f"Knowledge cache warmer, worker {self.worker}",
                    use_cache=False,
                )
                warmed += 1
            except KnowledgeError as exc:
                # The cache key names the query: its text (even cleaned) stays out of logs.
                logger.warning(
                    "knowledge %s: warming query %s failed: %s", spec.name, key[:12], exc
                )
        return warmed


@database_sync_to_async
def knowledge_state_report(stream_id: int, state: StreamState, detail: str) -> None:
    KnowledgeStream.objects.filter(pk=stream_id).exclude(
        state=state.value, state_detail=detail[:500]
    ).update(state=state.value, state_detail=detail[:500], state_changed_at=timezone.now())
