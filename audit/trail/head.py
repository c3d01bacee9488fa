"""The audit chain's head, published outside the database when it moves (checked every few
minutes) as a signed checkpoint (audit.trail.checkpoints): a file in AUDIT_CHECKPOINT_DIR, the
log, /metrics and webhook endpoints that want `audit.head`. An auditor keeps what was
published (a WORM folder, a SIEM, a ticket) and later runs `verify_audit --checkpoints
DIR_OR_URL` (or `--expect-head ID:HASH` for one): a chain that was shortened or rewritten
since no longer holds those heads."""

import asyncio
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

from assistgov.asyncdb import database_sync_to_async
from audit.trail import checkpoints, signing
from audit.trail.chain import head
from streams.genesys.times import iso
from streams.models import WebhookEndpoint
from streams.webhooks import outbox

logger = logging.getLogger(__name__)


def publish_head(*, unless_published: bool = False) -> dict | None:
    """Write the head's signed checkpoint to the folder, log it and send it to the
    endpoints that want `audit.head`; returns what was published (None for an empty chain,
    or, with `unless_published`, for a head this process published last time)."""
    current = head()
    if current is None or (unless_published and cache.get(LAST_PUBLISHED) == str(current)):
        return None
    published = checkpoints.signed(current, iso(_now()))
    if checkpoints.folder():
        checkpoints.write(published, checkpoints.folder())
    logger.info(
        "audit chain head: %s (signed checkpoint, key %s); keep it, then check with "
        "`manage.py verify_audit --expect-head %s`",
        current,
        published["public_key"],
        current,
    )
    with transaction.atomic():
        outbox.enqueue(WebhookEndpoint.Event.AUDIT_HEAD, [published])
    cache.set(LAST_PUBLISHED, str(current), None)
    return published


LAST_PUBLISHED = "audit-head:last-published"


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
                await database_sync_to_async(publish_head)(unless_published=True)
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
    info = InfoMetricFamily("assistgov_audit_head", "The audit chain's head")
    info.add_metric([], {"head": str(current), "public_key": signing.public_key_or_none() or ""})
    yield info
