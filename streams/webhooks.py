"""Outbound webhooks: an outbox written with each event, delivered by the stream worker.

`enqueue` runs inside the transaction of the event it reports, so an event and its
deliveries commit together. `WebhookDispatcher` (in the worker process) claims due
deliveries with conditional UPDATEs, so several workers never send one twice at once,
signs them per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature),
and retries on a backoff schedule that honours Retry-After. Delivery is at least once:
receivers dedupe by webhook-id, which never changes for a delivery.
"""

import asyncio
import base64
import json
import logging
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from standardwebhooks import Webhook

from streams import outbound
from streams.genesys.errors import HostNotAllowed
from streams.genesys.rest import parse_retry_after
from streams.models import Insight, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from streams.signals import report_config_change
from streams.times import iso

logger = logging.getLogger(__name__)

CLAIM_BATCH = 50


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_delivery_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def insight_data(insight: Insight, stream_name: str = "") -> dict:
    return {
        "id": insight.pk,
        "external_id": insight.external_id,
        "stream": stream_name or insight.stream.name,
        "interaction_id": insight.interaction_id,
        "insight_type": insight.insight_type,
        "confidence": insight.confidence,
        "relevance_score": insight.relevance_score,
        "snippet": insight.snippet,
        "review_status": insight.review_status,
        "reviewed_by": insight.reviewed_by.get_username() if insight.reviewed_by_id else None,
        "reviewed_at": iso(insight.reviewed_at),
        "reason_code": insight.review_reason_code,
        "note": insight.review_note,
        "decided_by_rule": insight.review_rule,
        "event_time": iso(insight.event_time),
        "received_at": iso(insight.received_at),
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


# Claiming and recording (sync; the dispatcher calls them through database_sync_to_async).


@dataclass(frozen=True)
class Claimed:
    id: str
    endpoint_id: int
    url: str
    secret: str
    body: str
    attempts: int


def claim_due(worker: str, limit: int, hold_seconds: float) -> list[Claimed]:
    now = timezone.now()
    due = (
        WebhookDelivery.objects.filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now,
            endpoint__enabled=True,
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    claimed = []
    for delivery_id in list(due):
        won = (
            WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .update(claimed_by=worker, claimed_until=now + timedelta(seconds=hold_seconds))
        )
        if won:
            delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
            claimed.append(
                Claimed(
                    id=delivery.pk,
                    endpoint_id=delivery.endpoint_id,
                    url=delivery.endpoint.url,
                    secret=delivery.endpoint.secret(),
                    body=json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False),
                    attempts=delivery.attempts,
                )
            )
    return claimed


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str
    duration_ms: float
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def next_wait(attempts: int, outcome: Outcome, schedule: list[float]) -> float | None:
    """Seconds until the next attempt, or None when the schedule is used up."""
    if attempts > len(schedule):
        return None
    wait = schedule[attempts - 1]
    retryable = outcome.status_code == 429 or (outcome.status_code or 0) >= 500
    if retryable and outcome.retry_after is not None:
        wait = max(wait, outcome.retry_after)
    return wait


def record(delivery_id: str, outcome: Outcome, worker: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("endpoint")
            .get(pk=delivery_id)
        )
        WebhookAttempt.objects.create(
            delivery=delivery,
            attempted_at=now,
            status_code=outcome.status_code,
            error=outcome.error[:500],
            duration_ms=outcome.duration_ms,
            worker=worker,
        )
        delivery.attempts += 1
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error[:500]
        delivery.claimed_by, delivery.claimed_until = "", None
        if outcome.delivered:
            delivery.status = WebhookDelivery.Status.DELIVERED
            delivery.delivered_at = now
        elif outcome.status_code == 410:
            # The receiver says this endpoint is gone: stop sending until an admin re-enables it.
            _disable(delivery.endpoint, f"the receiver answered 410 Gone at {iso(now)}")
        else:
            wait = next_wait(delivery.attempts, outcome, settings.WEBHOOK_RETRY_SCHEDULE)
            if wait is None:
                delivery.status = WebhookDelivery.Status.FAILED
            else:
                delivery.next_attempt_at = now + timedelta(seconds=wait)
        delivery.save()


def _disable(endpoint: WebhookEndpoint, reason: str) -> None:
    before = endpoint.audit_snapshot()
    endpoint.enabled, endpoint.disabled_reason = False, reason
    endpoint.save(update_fields=["enabled", "disabled_reason", "updated_at"])
    logger.warning("webhook endpoint %s disabled: %s", endpoint.name, reason)
    report_config_change(
        obj=endpoint,
        verb="disable",
        before=before,
        after=endpoint.audit_snapshot(),
        actor=None,
        source="webhook dispatcher",
    )


def redeliver(delivery_ids) -> int:
    """Send these deliveries again, whatever happened to them (attempts are kept)."""
    return WebhookDelivery.objects.filter(pk__in=list(delivery_ids)).update(
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at=timezone.now(),
        claimed_by="",
        claimed_until=None,
    )


class WebhookDispatcher:
    def __init__(self, *, worker: str, poll_seconds: float | None = None):
        self.worker = worker
        self.poll_seconds = poll_seconds or settings.WEBHOOK_POLL_SECONDS
        self.timeout = settings.WEBHOOK_TIMEOUT_SECONDS
        self.limit = asyncio.Semaphore(settings.WEBHOOK_CONCURRENCY)

    async def run(self) -> None:
        async with outbound.http_client(
            outbound.webhook_hosts(), timeout=self.timeout, follow_redirects=False
        ) as http:
            while True:
                try:
                    batch = await database_sync_to_async(claim_due)(
                        self.worker, CLAIM_BATCH, self.timeout * 3
                    )
                except Exception:
                    logger.exception("webhooks: cannot claim deliveries; trying again")
                    batch = []
                if batch:
                    await asyncio.gather(*(self._deliver(http, claimed) for claimed in batch))
                else:
                    await asyncio.sleep(self.poll_seconds)

    async def _deliver(self, http: httpx.AsyncClient, claimed: Claimed) -> None:
        async with self.limit:
            outcome = await send(http, claimed)
        try:
            await database_sync_to_async(record)(claimed.id, outcome, self.worker)
        except Exception:
            # The claim expires and the delivery is sent again: at least once.
            logger.exception("webhooks: cannot record the attempt of %s", claimed.id)


async def send(http: httpx.AsyncClient, claimed: Claimed) -> Outcome:
    now = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "user-agent": "assistgov-webhooks",
        "webhook-id": claimed.id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(claimed.secret).sign(claimed.id, now, claimed.body),
    }
    started = time.monotonic()
    try:
        response = await http.post(claimed.url, content=claimed.body.encode(), headers=headers)
    except HostNotAllowed as exc:
        return Outcome(None, f"not sent: {exc}"[:500], 0.0)
    except httpx.HTTPError as exc:
        elapsed = (time.monotonic() - started) * 1000
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:500], elapsed)
    elapsed = (time.monotonic() - started) * 1000
    error = "" if response.is_success else f"HTTP {response.status_code}"
    return Outcome(
        response.status_code,
        error,
        elapsed,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


def metrics():
    by_status = GaugeMetricFamily(
        "assistgov_webhook_deliveries",
        "Webhook deliveries by endpoint and status",
        labels=["endpoint", "status"],
    )
    rows = WebhookDelivery.objects.values("endpoint__name", "status").annotate(n=Count("pk"))
    for row in rows:
        by_status.add_metric([row["endpoint__name"], row["status"]], row["n"])
    failures = CounterMetricFamily(
        "assistgov_webhook_failed_attempts", "Delivery attempts that failed", labels=["endpoint"]
    )
    failed = (
        WebhookAttempt.objects.exclude(status_code__gte=200, status_code__lt=300)
        .values("delivery__endpoint__name")
        .annotate(n=Count("pk"))
    )
    for row in failed:
        failures.add_metric([row["delivery__endpoint__name"]], row["n"])
    return [by_status, failures]
