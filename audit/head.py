"""The audit chain's head, published outside the database every few minutes: in the log,
on /metrics and to webhook endpoints that want `audit.head`. An auditor keeps what was
published (a SIEM, a mailbox, a ticket) and later runs `verify_audit --expect-head ID:HASH`:
a chain that was shortened or rewritten since no longer holds that head."""

import asyncio
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

from assistgov.asyncdb import database_sync_to_async
from audit.chain import head
from streams.genesys.times import iso
from streams.models import WebhookEndpoint
from streams.webhooks import outbox

logger = logging.getLogger(__name__)


def publish_head() -> dict | None:
    """Log the head and send it to the endpoints that want `audit.head`; returns what was
    published (None for an empty chain)."""
    current = head()
    if current is None:
        return None
    published = {
        "entry_id": current.entry_id,
        "entry_hash": current.entry_hash,
        "head": str(current),
        "signature": current.signature(),
        "published_at": iso(_now()),
    }
    logger.info(
        "audit chain head: %s (signature %s); keep it, then check with "
        "`manage.py verify_audit --expect-head %s`",
        current,
        published["signature"],
        current,
    )
    with transaction.atomic():
        outbox.enqueue(WebhookEndpoint.Event.AUDIT_HEAD, [published])
    return published


def _now():
    from django.utils import timezone

    return timezone.now()


async def head_publisher(worker: str) -> None:
    """(A stream worker task.) Publish every AUDIT_HEAD_PUBLISH_SECONDS; with several
    workers, the first to claim a period publishes it."""
    interval = settings.AUDIT_HEAD_PUBLISH_SECONDS
    while True:
        period = int(time.time() // interval)
        try:
            if await cache.aadd(f"audit-head:{period}", worker, timeout=interval * 2):
                await database_sync_to_async(publish_head)()
        except Exception:
            logger.exception("could not publish the audit chain's head; trying next period")
        await asyncio.sleep(interval - time.time() % interval)


def head_metrics():
    current = head()
    if current is None:
        return
    entry = GaugeMetricFamily("assistgov_audit_head_entry_id", "The audit chain's last entry")
    entry.add_metric([], current.entry_id)
    yield entry
    info = InfoMetricFamily("assistgov_audit_head", "The audit chain's head, signed")
    info.add_metric([], {"head": str(current), "signature": current.signature()})
    yield info
