"""The webhook outbox: `enqueue` runs inside the transaction of the event it reports, so an
event and its deliveries commit together."""

import base64
import secrets
import uuid
from collections.abc import Iterable
from functools import partial

from django.db import transaction
from django.utils import timezone

from streams.genesys.summaries import SUMMARY_TYPE
from streams.genesys.times import iso
from streams.ingest.models import Insight
from streams.webhooks.models import OutboxBatch, WebhookDelivery, WebhookEndpoint


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_delivery_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def insight_event(insight_type: str, verb: str) -> str:
    """A summary's events are `summary.*`; every other insight's `insight.*`."""
    return f"{SUMMARY_TYPE if insight_type == SUMMARY_TYPE else 'insight'}.{verb}"


def insight_data(insight: Insight, stream_name: str = "") -> dict:
    reviewer = insight.reviewed_by.get_username() if insight.reviewed_by_id else None
    return _insight_dict(
        insight.pk, partial(getattr, insight), stream_name or insight.stream.name, reviewer
    )


def row_data(pk: int, row: dict, stream_name: str) -> dict:
    """`insight_data` of a row ingestion has just written (its values, no model instance:
    ingestion builds one per insight for endpoints that want it)."""
    return _insight_dict(pk, row.get, stream_name, None)


def _insight_dict(pk: int, get, stream_name: str, reviewer: str | None) -> dict:
    summary = get("insight_type") == SUMMARY_TYPE
    return {
        "id": pk,
        "external_id": get("external_id"),
        "stream": stream_name,
        "interaction_id": get("interaction_id"),
        "insight_type": get("insight_type"),
        "confidence": get("confidence"),
        "relevance_score": get("relevance_score"),
        "snippet": get("snippet"),
        # An officer's correction, approved in the snippet's place (empty when none).
        "corrected_text": get("corrected_text"),
        "review_status": get("review_status"),
        "reviewed_by": reviewer,
        "reviewed_at": iso(get("reviewed_at")),
        "reason_code": get("review_reason_code"),
        "note": get("review_note"),
        "decided_by_rule": get("review_rule"),
        "event_time": iso(get("event_time")),
        "received_at": iso(get("received_at")),
        # A summary's whole text, predicted wrap-up codes, reason, resolution, follow-up.
        **({"summary": get("payload")} if summary else {}),
    }


def enqueue(event_type: str, items: Iterable[dict]) -> int:
    """Outbox rows for every enabled endpoint that wants `event_type` (call inside the
    transaction of the event). Returns how many were written. `items` is read only when
    some endpoint wants the event."""
    endpoints = [e for e in WebhookEndpoint.objects.filter(enabled=True) if event_type in e.events]
    if not endpoints:
        return 0
    items = list(items)
    now = timezone.now()
    rows = [row for e in endpoints for row in delivery_rows(e, event_type, now, items)]
    WebhookDelivery.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def delivery_rows(endpoint, event_type: str, at, items: list[dict]) -> list[WebhookDelivery]:
    """The deliveries of `items` to one endpoint: one per event, or, for an endpoint that
    takes batches, one per `batch_size` events, each event in it with an id of its own
    (the delivery's id and its place), kept across retries."""
    stamp = iso(at)
    if endpoint.batch_size <= 1:
        return [
            WebhookDelivery(
                id=new_delivery_id(),
                endpoint=endpoint,
                event_type=event_type,
                payload={"type": event_type, "timestamp": stamp, "data": data},
                next_attempt_at=at,
            )
            for data in items
        ]
    rows = []
    for start in range(0, len(items), endpoint.batch_size):
        delivery_id = new_delivery_id()
        chunk = items[start : start + endpoint.batch_size]
        events = [
            {"id": f"{delivery_id}.{n}", "type": event_type, "timestamp": stamp, "data": data}
            for n, data in enumerate(chunk)
        ]
        rows.append(
            WebhookDelivery(
                id=delivery_id,
                endpoint=endpoint,
                event_type=event_type,
                payload={"type": "batch", "timestamp": stamp, "data": events},
                next_attempt_at=at,
            )
        )
    return rows


def enqueue_batch(event_type: str, items: Iterable[dict]) -> int:
    """`enqueue` for ingestion: the events go in one `OutboxBatch` row (inside the batch's
    transaction), which the dispatcher expands into deliveries off the ingest path. Returns
    how many events were kept (0 when no endpoint wants them: `items` is then not read)."""
    if not any(event_type in e.events for e in WebhookEndpoint.objects.filter(enabled=True)):
        return 0
    items = list(items)
    if items:
        OutboxBatch.objects.create(event_type=event_type, items=items, created_at=timezone.now())
    return len(items)


def expand_batches(limit: int = 20) -> int:
    """Turn waiting `OutboxBatch` rows into deliveries, one transaction for them all; a row
    another dispatcher took meanwhile is skipped (its DELETE finds nothing). Returns how many
    deliveries were written."""
    written = 0
    if not OutboxBatch.objects.exists():
        return 0  # no write transaction (on SQLite, the writers' lock) for nothing
    with transaction.atomic():
        endpoints = list(WebhookEndpoint.objects.filter(enabled=True))
        for batch in OutboxBatch.objects.order_by("pk")[:limit]:
            if not OutboxBatch.objects.filter(pk=batch.pk).delete()[0]:
                continue
            wanting = [e for e in endpoints if batch.event_type in e.events]
            rows = [
                row
                for endpoint in wanting
                for row in delivery_rows(endpoint, batch.event_type, batch.created_at, batch.items)
            ]
            WebhookDelivery.objects.bulk_create(rows, batch_size=500)
            written += len(rows)
    return written


def redeliver(delivery_ids) -> int:
    """Send these deliveries again, whatever happened to them (attempts are kept)."""
    return WebhookDelivery.objects.filter(pk__in=list(delivery_ids)).update(
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at=timezone.now(),
        claimed_by="",
        claimed_until=None,
    )
