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
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import httpx
from django.conf import settings
from django.db import connections, transaction
from django.db.models import F, Q
from django.utils import timezone
from standardwebhooks import Webhook

from assistgov.asyncdb import database_sync_to_async, database_sync_to_async_in, own_thread
from streams import outbound, ports
from streams.genesys.errors import HostNotAllowed
from streams.genesys.rest import parse_retry_after
from streams.genesys.times import iso
from streams.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from streams.webhooks.outbox import expand_batches

logger = logging.getLogger(__name__)

CLAIM_BATCH = 200


@dataclass(frozen=True)
class Claimed:
    """One POST: a delivery (one event, or a batch of events for an endpoint that takes
    them), its id the webhook-id."""

    id: str
    endpoint_id: int
    url: str
    secret: str
    body: str
    attempts: int


def claim_rows(queryset, *, worker: str, limit: int, hold_seconds: float) -> list:
    """The primary keys of up to `limit` due outbox rows of `queryset` (pending ones) this
    worker now holds: taken by one conditional UPDATE, which marks them with a token of this
    claim (so two workers never hold one: a row another claim took meanwhile is no longer
    free when the UPDATE looks again), and read back by that token."""
    now = timezone.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    due = queryset.filter(free, next_attempt_at__lte=now).order_by("next_attempt_at")
    token = f"{worker[:80]}:{uuid.uuid4().hex[:16]}"
    hold = {"claimed_by": token, "claimed_until": now + timedelta(seconds=hold_seconds)}
    model = queryset.model.objects
    candidates = list(due.values_list("pk", flat=True)[:limit])
    if not candidates:
        return []  # no write (on SQLite, the writers' lock) when nothing is due
    model.filter(free, pk__in=candidates).update(**hold)
    return list(model.filter(claimed_by=token).values_list("pk", flat=True))


def claim_due(worker: str, limit: int, hold_seconds: float) -> list[Claimed]:
    """Expand what ingestion left in the outbox (`expand_batches`), then claim what is
    due."""
    expand_batches()
    pending = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, endpoint__enabled=True
    )
    ids = claim_rows(pending, worker=worker, limit=limit, hold_seconds=hold_seconds)
    secrets: dict[int, str] = {}
    claimed = []
    for delivery in WebhookDelivery.objects.filter(pk__in=ids).select_related("endpoint"):
        endpoint = delivery.endpoint
        if endpoint.pk not in secrets:
            secrets[endpoint.pk] = endpoint.secret()
        claimed.append(
            Claimed(
                id=delivery.pk,
                endpoint_id=delivery.endpoint_id,
                url=endpoint.url,
                secret=secrets[endpoint.pk],
                body=_json(delivery.payload),
                attempts=delivery.attempts,
            )
        )
    return claimed


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


async def outbox_loop(
    claim: Callable[[], list], deliver, *, poll_seconds: float, what: str, database=None
):
    """(A worker task.) Claim due rows (`claim`, synchronous database work, run by
    `database`: `database_sync_to_async` unless given) and deliver them together (`deliver`,
    one coroutine for the batch); when none is due, wait a poll."""
    database = database or database_sync_to_async
    while True:
        try:
            batch = await database(claim)()
        except Exception:
            logger.exception("%s: cannot claim what is due; trying again", what)
            batch = []
        if batch:
            await deliver(batch)
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


def attempts_record(outcomes: list[tuple[str, Outcome]], worker: str) -> None:
    """A batch's attempts, in one transaction: every attempt in one INSERT, the deliveries
    that succeeded in one UPDATE per status code; the rest (retries, give-ups, a 410) one by
    one, as `attempt_record`."""
    now = timezone.now()
    with transaction.atomic():
        WebhookAttempt.objects.bulk_create(
            WebhookAttempt(
                delivery_id=delivery_id,
                attempted_at=now,
                status_code=outcome.status_code,
                error=outcome.error[:500],
                duration_ms=outcome.duration_ms,
                worker=worker,
            )
            for delivery_id, outcome in outcomes
        )
        delivered: dict[int, list[str]] = {}
        for delivery_id, outcome in outcomes:
            if outcome.delivered:
                delivered.setdefault(outcome.status_code, []).append(delivery_id)
            else:
                _settle(delivery_id, outcome, now)
        for status_code, ids in delivered.items():
            WebhookDelivery.objects.filter(pk__in=ids).update(
                status=WebhookDelivery.Status.DELIVERED,
                delivered_at=now,
                attempts=F("attempts") + 1,
                last_status_code=status_code,
                last_error="",
                claimed_by="",
                claimed_until=None,
            )


def attempt_record(delivery_id: str, outcome: Outcome, worker: str) -> None:
    attempts_record([(delivery_id, outcome)], worker)


def _settle(delivery_id: str, outcome: Outcome, now) -> None:
    """(Inside `attempts_record`.) A delivery that did not succeed: retried later, given
    up on, or its endpoint disabled (410)."""
    delivery = (
        WebhookDelivery.objects.select_for_update().select_related("endpoint").get(pk=delivery_id)
    )
    delivery.attempts += 1
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error[:500]
    delivery.claimed_by, delivery.claimed_until = "", None
    if outcome.status_code == 410:
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
    """(A worker task, or `manage.py runwebhooks`.) Deliver what is due, a batch at a time:
    one claim, the POSTs side by side (at most WEBHOOK_CONCURRENCY at once), one record. Its
    database work runs in a thread and on a connection of its own, so it never queues behind
    the stream writers' (or they behind it)."""

    def __init__(self, *, worker: str, poll_seconds: float | None = None):
        self.worker = worker
        self.poll_seconds = poll_seconds or settings.WEBHOOK_POLL_SECONDS
        self.timeout = settings.WEBHOOK_TIMEOUT_SECONDS
        self.limit = asyncio.Semaphore(settings.WEBHOOK_CONCURRENCY)

    async def run(self) -> None:
        executor = own_thread("webhooks")
        self.database = partial(database_sync_to_async_in, executor)
        try:
            async with outbound.http_client(
                outbound.webhook_hosts(), timeout=self.timeout, follow_redirects=False
            ) as http:
                await outbox_loop(
                    partial(claim_due, self.worker, CLAIM_BATCH, self.timeout * 3),
                    partial(self._deliver, http),
                    poll_seconds=self.poll_seconds,
                    what="webhooks",
                    database=self.database,
                )
        finally:
            executor.submit(connections.close_all)
            executor.shutdown(wait=False)

    async def _deliver(self, http: httpx.AsyncClient, batch: list[Claimed]) -> None:
        async def one(claimed: Claimed) -> tuple[str, Outcome]:
            async with self.limit:
                return claimed.id, await send(http, claimed)

        outcomes = list(await asyncio.gather(*(one(claimed) for claimed in batch)))
        try:
            await self.database(attempts_record)(outcomes, self.worker)
        except Exception:
            # The claims expire and the deliveries are sent again: at least once.
            logger.exception("webhooks: cannot record the attempts of %d deliveries", len(batch))


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
