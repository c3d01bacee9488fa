"""The audit chain checked on a schedule and on demand, each check an entry in the chain.

A stream worker verifies the whole chain every AUDIT_VERIFY_SECONDS (a day by default; with
several workers, the first to claim the period does it), against the checkpoints published
in AUDIT_CHECKPOINT_DIR too; `verify_audit` and the audit trail's "Verify now" do the same on
demand. The result is an audit entry (`audit.verify`,
or `audit.chain_broken`), the figures on /metrics read the latest, and a broken chain is
logged as an error naming the first broken entry and sent to webhook endpoints that want
`audit.chain_broken`."""

import dataclasses
import logging

from django.conf import settings
from django.db import transaction
from prometheus_client.core import GaugeMetricFamily

from audit.trail import chain, checkpoints, signing
from audit.trail.models import AuditEntry
from audit.trail.periodic import every_period
from audit.trail.record import Origin, audit_record
from streams.genesys.times import iso
from streams.models import WebhookEndpoint
from streams.webhooks import outbox

logger = logging.getLogger(__name__)


INTACT, BROKEN = "audit.verify", "audit.chain_broken"


SCHEDULED = "Scheduled chain check"


def verify_and_record(
    *,
    actor=None,
    actor_label: str = "",
    trigger: str,
    origin: Origin | None = None,
    expect_head=None,
    checkpoint_source: str = "",
    public_key: str | None = None,
    stop=None,
):
    """Verify the chain, record the result as an entry, and on a break raise the alarm.
    With `checkpoint_source` (a folder, file or URL of published checkpoints, see
    audit.trail.checkpoints), the chain must also hold every head they vouch for. `stop`
    (audit.trail.periodic) ends a scheduled check early, recording nothing."""
    published, unverified = _published(checkpoint_source, public_key)
    result = chain.verify(expect_head=expect_head, expected=published, stop=stop)
    if unverified and result.intact:
        result = dataclasses.replace(result, problem="; ".join(unverified[:5]))
    after = {
        "intact": result.intact,
        "entries_checked": result.checked,
        "head": str(result.head) if result.head else None,
        "broken_at_entry": result.broken_at,
        "problem": result.problem or None,
        "trigger": trigger,
        "expected_head": str(expect_head) if expect_head else None,
        "checkpoints": {
            "source": checkpoint_source,
            "checked": len(published),
            "removed_by_purge": result.heads_purged,
            "rechained": result.heads_rechained,
            "not_verified": len(unverified),
        }
        if checkpoint_source
        else None,
        "purged": list(result.purged),
        "rechained": list(result.rechained),
    }
    with transaction.atomic():
        entry = audit_record(
            action=INTACT if result.intact else BROKEN,
            actor=actor,
            actor_label=actor_label or ("" if actor is not None else SCHEDULED),
            object_type="audit.trail.chain",
            object_id=str(result.head.entry_id) if result.head else "",
            object_repr="The audit chain",
            after=after,
            origin=origin,
        )
        if not result.intact:
            outbox.enqueue(
                WebhookEndpoint.Event.AUDIT_CHAIN_BROKEN,
                [{**after, "entry_id": entry.pk, "verified_at": iso(entry.created_at)}],
            )
    if not result.intact:
        logger.error(
            "audit chain broken at entry %s after %d intact entries: %s",
            result.broken_at,
            result.checked,
            result.problem,
        )
    return dataclasses.replace(result, checkpoints_checked=len(published))


def _published(source: str, public_key: str | None) -> tuple[list, list[str]]:
    """The heads published checkpoints at `source` vouch for, and the ones that do not
    verify (CheckpointsUnreadable or NoPinnedKey when they cannot be read or checked)."""
    if not source:
        return [], []
    return checkpoints.heads(checkpoints.load(source), signing.pinned_public_key(public_key))


def latest() -> AuditEntry | None:
    """The last verification's entry (None before the first)."""
    return AuditEntry.objects.filter(action__in=(INTACT, BROKEN)).order_by("-id").first()


async def chain_verifier(worker: str) -> None:
    """(A stream worker task.) Verify every AUDIT_VERIFY_SECONDS."""
    await every_period(
        "audit-verify",
        settings.AUDIT_VERIFY_SECONDS,
        worker,
        lambda stop: verify_and_record(
            trigger="scheduled", checkpoint_source=checkpoints.folder(), stop=stop
        ),
    )


def verification_metrics():
    last = latest()
    ok = GaugeMetricFamily(
        "assistgov_audit_chain_ok",
        "1 if the last verification found the audit chain intact, 0 if broken",
    )
    when = GaugeMetricFamily(
        "assistgov_audit_chain_verified_timestamp_seconds",
        "When the audit chain was last verified (Unix time)",
    )
    if last is not None:
        ok.add_metric([], 1.0 if last.action == INTACT else 0.0)
        when.add_metric([], last.created_at.timestamp())
    yield ok
    yield when
