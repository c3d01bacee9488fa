"""Outbound webhooks: an outbox written with each event, delivered by the stream worker.

`enqueue` runs inside the transaction of the event it reports, so an event and its
deliveries commit together. `WebhookDispatcher` (in the worker process) claims due
deliveries with conditional UPDATEs, so several workers never send one twice at once,
signs them per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature),
and retries on a backoff schedule that honours Retry-After. Delivery is at least once:
receivers dedupe by webhook-id, which never changes for a delivery.
"""

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from standardwebhooks import Webhook

from assistgov.asyncdb import database_sync_to_async
from streams import outbound, ports
from streams.genesys.errors import HostNotAllowed
from streams.genesys.rest import parse_retry_after
from streams.genesys.times import iso
from streams.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

CLAIM_BATCH = 50


@dataclass(frozen=True)
class Claimed:
    id: str
    endpoint_id: int
    url: str
    secret: str
    body: str
    attempts: int


def claim_rows(queryset, *, worker: str, limit: int, hold_seconds: float) -> list:
    """The primary keys of up to `limit` due outbox rows of `queryset` (pending ones) this
    worker now holds: each taken by a conditional UPDATE, so two workers never hold one."""
    now = timezone.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    due = queryset.filter(free, next_attempt_at__lte=now).order_by("next_attempt_at")
    hold = {"claimed_by": worker, "claimed_until": now + timedelta(seconds=hold_seconds)}
    return [
        pk
        for pk in list(due.values_list("pk", flat=True)[:limit])
        if queryset.filter(free, pk=pk).update(**hold)
    ]


def claim_due(worker: str, limit: int, hold_seconds: float) -> list[Claimed]:
    pending = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, endpoint__enabled=True
    )
    claimed = []
    for delivery_id in claim_rows(pending, worker=worker, limit=limit, hold_seconds=hold_seconds):
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


async def outbox_loop(claim: Callable[[], list], deliver, *, poll_seconds: float, what: str):
    """(A worker task.) Claim due rows (`claim`, synchronous database work) and deliver
    them together (`deliver`, one coroutine per row); when none is due, wait a poll."""
    while True:
        try:
            batch = await database_sync_to_async(claim)()
        except Exception:
            logger.exception("%s: cannot claim what is due; trying again", what)
            batch = []
        if batch:
            await asyncio.gather(*(deliver(claimed) for claimed in batch))
        else:
            await asyncio.sleep(poll_seconds)


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


def attempt_record(delivery_id: str, outcome: Outcome, worker: str) -> None:
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
            endpoint_disable(delivery.endpoint, f"the receiver answered 410 Gone at {iso(now)}")
        else:
            wait = next_wait(delivery.attempts, outcome, settings.WEBHOOK_RETRY_SCHEDULE)
            if wait is None:
                delivery.status = WebhookDelivery.Status.FAILED
            else:
                delivery.next_attempt_at = now + timedelta(seconds=wait)
        delivery.save()


def endpoint_disable(endpoint: WebhookEndpoint, reason: str) -> None:
    before = endpoint.audit_snapshot()
    endpoint.enabled, endpoint.disabled_reason = False, reason
    endpoint.save(update_fields=["enabled", "disabled_reason", "updated_at"])
    logger.warning("webhook endpoint %s disabled: %s", endpoint.name, reason)
    ports.governance().config_changed(
        obj=endpoint,
        verb="disable",
        before=before,
        after=endpoint.audit_snapshot(),
        actor=None,
        source="webhook dispatcher",
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
            await outbox_loop(
                partial(claim_due, self.worker, CLAIM_BATCH, self.timeout * 3),
                partial(self._deliver, http),
                poll_seconds=self.poll_seconds,
                what="webhooks",
            )

    async def _deliver(self, http: httpx.AsyncClient, claimed: Claimed) -> None:
        async with self.limit:
            outcome = await send(http, claimed)
        try:
            await database_sync_to_async(attempt_record)(claimed.id, outcome, self.worker)
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
