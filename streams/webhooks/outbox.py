"""The webhook outbox: `enqueue` runs inside the transaction of the event it reports, so an
event and its deliveries commit together."""

import base64
import secrets
import uuid
from collections.abc import Iterable

from django.utils import timezone

from streams.genesys.summaries import SUMMARY_TYPE
from streams.genesys.times import iso
from streams.ingest.models import Insight
from streams.webhooks.models import WebhookDelivery, WebhookEndpoint


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_delivery_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def insight_event(insight_type: str, verb: str) -> str:
    """A summary's events are `summary.*`; every other insight's `insight.*`."""
    return f"{SUMMARY_TYPE if insight_type == SUMMARY_TYPE else 'insight'}.{verb}"


def insight_data(insight: Insight, stream_name: str = "") -> dict:
    summary = insight.insight_type == SUMMARY_TYPE
    return {
        "id": insight.pk,
        "external_id": insight.external_id,
        "stream": stream_name or insight.stream.name,
        "interaction_id": insight.interaction_id,
        "insight_type": insight.insight_type,
        "confidence": insight.confidence,
        "relevance_score": insight.relevance_score,
        "snippet": insight.snippet,
        # An officer's correction, approved in the snippet's place (empty when none).
        "corrected_text": insight.corrected_text,
        "review_status": insight.review_status,
        "reviewed_by": insight.reviewed_by.get_username() if insight.reviewed_by_id else None,
        "reviewed_at": iso(insight.reviewed_at),
        "reason_code": insight.review_reason_code,
        "note": insight.review_note,
        "decided_by_rule": insight.review_rule,
        "event_time": iso(insight.event_time),
        "received_at": iso(insight.received_at),
        # A summary's whole text, predicted wrap-up codes, reason, resolution, follow-up.
        **({"summary": insight.payload} if summary else {}),
    }


def enqueue(event_type: str, items: Iterable[dict]) -> int:
    """Outbox rows for every enabled endpoint that wants `event_type` (call inside the
    transaction of the event). Returns how many were written. `items` is read only when
    some endpoint wants the event: ingestion passes a generator, and builds no payload
    for events nobody receives."""
    endpoints = [e for e in WebhookEndpoint.objects.filter(enabled=True) if event_type in e.events]
    if not endpoints:
        return 0
    items = list(items)
    now = timezone.now()
    rows = [
        WebhookDelivery(
            id=new_delivery_id(),
            endpoint=endpoint,
            event_type=event_type,
            payload={"type": event_type, "timestamp": iso(now), "data": data},
            next_attempt_at=now,
        )
        for endpoint in endpoints
        for data in items
    ]
    WebhookDelivery.objects.bulk_create(rows)
    return len(rows)


def redeliver(delivery_ids) -> int:
    """Send these deliveries again, whatever happened to them (attempts are kept)."""
    return WebhookDelivery.objects.filter(pk__in=list(delivery_ids)).update(
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at=timezone.now(),
        claimed_by="",
        claimed_until=None,
    )
