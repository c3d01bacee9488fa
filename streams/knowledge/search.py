"""Knowledge queries end to end: cache, the knowledge client, validation, the record.

Every query, from the console, the API or the warmer, goes through `knowledge_search`:
the answer comes from the cache or from Genesys, its results are validated against the
stream's rules, and a `KnowledgeQuery` row (seed 2's audit record) is written together with
its audit entry and its webhook deliveries, in one transaction (`query_store`).

ORM work goes through asgiref's `sync_to_async`, as in Django's own async views: in a web
process the request owns the connection's lifetime; in the stream worker these calls run
on its one thread-sensitive database thread, where the supervisor's reconcile (channels'
`database_sync_to_async`, which calls `close_old_connections`) retires broken or aged
connections every few seconds. Either way a cancellation during the call is honoured
(`assistgov.asyncdb.cancellable`).
"""

import logging
import time
from functools import partial

from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from assistgov.asyncdb import cancellable
from streams import live, ports
from streams.genesys.knowledge import (
    Governance,
    QueryFailed,
    SearchRequest,
    check_results,
    governance_status,
    top_confidence,
)
from streams.genesys.times import iso
from streams.knowledge.errors import KnowledgeError
from streams.knowledge.hub import KnowledgeHub
from streams.knowledge.models import KnowledgeQuery
from streams.knowledge.specs import KnowledgeSpec
from streams.privacy import current as privacy
from streams.privacy import vault
from streams.privacy.detect import Scan
from streams.privacy.protect import codes
from streams.privacy.store import Found, keep_found
from streams.webhooks import outbox
from streams.webhooks.models import WebhookEndpoint

logger = logging.getLogger(__name__)

CACHE_PREFIX = "knowledge:"


# How each way a query can fail reaches an API caller.
FAILURE_STATUS = {
    "busy": (KnowledgeQuery.Status.BUSY, 429),
    "timeout": (KnowledgeQuery.Status.TIMEOUT, 504),
    "error": (KnowledgeQuery.Status.ERROR, 502),
    "lost": (KnowledgeQuery.Status.LOST, 502),
    "unavailable": (KnowledgeQuery.Status.UNAVAILABLE, 503),
}


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
    # Personal data never reaches Genesys, the cache, the record or a log: the query goes out
    # with it taken out, and so are the results before anything keeps them.
    detector = await sync_to_async(privacy.detector)()
    found = detector.scan(text)
    request = spec.request(found.text, conversation_id)  # raises pydantic's ValidationError
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
        found=found,
    )
    if entry is not None:
        latency = (time.monotonic() - started) * 1000
        return await _query_record(
            **record, results=entry["results"], latency=latency, cache_hit=True
        )
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
        await _query_record(**record, results=[], latency=latency, status=status, failure=exc)
        raise KnowledgeError(str(exc), status=http_status, code=exc.code or exc.kind) from None
    results, _ = detector.scan_value(answer.results)
    if spec.cache_ttl:
        await cache.aset(
            CACHE_PREFIX + key,
            {
                "results": results,
                "text": request.query_text,
                "expires_at": time.time() + spec.cache_ttl,
            },
            spec.cache_ttl,
        )
    return await _query_record(
        **record, results=results, latency=answer.latency_ms, attempts=answer.attempts
    )


async def _query_record(
    *,
    spec: KnowledgeSpec,
    request: SearchRequest,
    key: str,
    origin: str,
    requested_by: str,
    client_address: str | None,
    insight_id: int | None,
    found: Scan,
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
        rule_version_id=spec.version_id,
        created_at=timezone.now(),
        **review_fields(origin, governance),
    )
    return await cancellable(sync_to_async(query_store))(query, client_address, found)


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


def query_store(
    query: KnowledgeQuery, client_address: str | None = None, found: Scan | None = None
) -> KnowledgeQuery:
    """Save the query with its audit entry and webhook deliveries, and what its text held of
    personal data (`found`: subject hashes, the sealed original), in one transaction."""
    with transaction.atomic():
        query.save()
        if found is not None and found.findings:
            keep_found([knowledge_found(query, found)])
        ports.governance().knowledge_queried(query=query, client_address=client_address)
        if query.review_status:
            transaction.on_commit(partial(live.announce_knowledge, [query.pk]))
        if query.governance_status == Governance.PASS:
            outbox.enqueue(WebhookEndpoint.Event.KNOWLEDGE_VALIDATED, [query_data(query)])
    return query


def knowledge_found(query: KnowledgeQuery, found: Scan) -> Found:
    originals = (
        {"query_text": codes().scan(found.original).text} if vault.keeps_originals() else None
    )
    return Found(query.conversation_id, "knowledge", query.query_id, found.findings, originals)


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
        "corrected_text": query.corrected_text,
    }
