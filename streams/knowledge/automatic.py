"""Automatic queries: new insights of chosen types are searched with their text."""

import asyncio
import logging
import time

from django.conf import settings
from pydantic import ValidationError as PydanticValidationError

from assistgov.asyncdb import database_sync_to_async
from streams.genesys.knowledge import QUERY_TEXT_LIMIT
from streams.genesys.payloads import type_words
from streams.genesys.scoring import extract_snippet
from streams.ingest.models import Insight
from streams.knowledge.models import KnowledgeQuery
from streams.knowledge.search import KnowledgeError, knowledge_search
from streams.knowledge.specs import KnowledgeSpec, enabled_specs

logger = logging.getLogger(__name__)


def insight_query_text(insight: Insight) -> str:
    """What an automatic query asks: the insight's content text, up to the query limit."""
    content = insight.payload.get("content") if isinstance(insight.payload, dict) else None
    return extract_snippet(content, limit=QUERY_TEXT_LIMIT) or insight.snippet


def insights_to_search(insight_ids: list[int], types: set[str]) -> list[Insight]:
    """The insights among these ids that automatic queries are for: of the chosen types, and
    not filtered out by their confidence matrix."""
    return list(
        Insight.objects.filter(pk__in=insight_ids, insight_type__in=types)
        .unfiltered()
        .only("pk", "insight_type", "interaction_id", "snippet", "payload")
        .order_by("pk")
    )


class AutomaticQueries:
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
        for insight in await database_sync_to_async(insights_to_search)(insight_ids, types):
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
            self._specs = await database_sync_to_async(enabled_specs)()
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
                requested_by=(
                    f"Automatic search for insight {insight.pk} "
                    f"({type_words(insight.insight_type)})"
                ),
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
