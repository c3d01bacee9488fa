"""Retention with checkpoints: what is due goes in batches, each with a checkpoint in the
chain; holds keep what they cover; the chain still verifies, and tampering is still found."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import DatabaseError, transaction
from django.utils import timezone

from audit.trail import chain
from audit.trail.models import AuditEntry, LegalHold, PurgePermit, RetentionPolicy
from audit.trail.retention import months_before, purge, retention_purger
from streams.models import Insight
from tests.audit.trail.test_chain import raw_update
from tests.factories import make_insight, make_stream
from tests.simulator import eventually

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=500)  # past every default retention (13 months at most)


def old_entries(count, *, at=LONG_AGO):
    return [
        chain.append(
            AuditEntry(
                created_at=at + timedelta(seconds=n),
                actor_label="olivia",
                action="insight.approve",
                object_repr=f"Insight {n}",
            )
        )
        for n in range(count)
    ]


def checkpoints(kind):
    return list(AuditEntry.objects.filter(action="retention.purge", object_id=kind).order_by("id"))


def test_months_count_calendar_months():
    assert months_before(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 13) == datetime(
        2024, 12, 15, tzinfo=UTC
    )


def test_retention_cannot_be_set_below_its_floor():
    policy = RetentionPolicy.current()
    policy.audit_months = 11
    with pytest.raises(ValidationError, match="audit_months"):
        policy.full_clean()
    policy.audit_months, policy.insight_months = 12, 5
    with pytest.raises(ValidationError, match="insight_months"):
        policy.full_clean()


def test_decided_insights_past_retention_go_with_a_checkpoint_and_pending_ones_stay():
    stream = make_stream()
    old_decided = [
        make_insight(stream=stream, received_at=LONG_AGO, review_status="approved")
        for _ in range(3)
    ]
    # Pending, but not yet past the maximum age of a pending item (90 days): it stays.
    old_pending = make_insight(stream=stream, received_at=NOW - timedelta(days=60))
    recent = make_insight(stream=stream, received_at=NOW - timedelta(days=30))
    outcomes = {o.kind: o for o in purge(now=NOW, batch_size=2)}
    assert outcomes["insights"].count == 3 and outcomes["insights"].batches == 2
    assert set(Insight.objects.values_list("pk", flat=True)) == {old_pending.pk, recent.pk}
    first, second = checkpoints("insights")
    assert (first.after["count"], second.after["count"]) == (2, 1)
    assert first.after["retention_months"] == 13
    assert {first.after["first_id"], second.after["last_id"]} <= {str(i.pk) for i in old_decided}
    assert first.actor_label == "Retention purge"


def test_a_purged_items_second_review_goes_with_it():
    from audit.oversight.models import SecondReview

    old = make_insight(received_at=LONG_AGO, review_status="approved")
    recent = make_insight(received_at=NOW - timedelta(days=30), review_status="approved")
    for item in (old, recent):
        SecondReview.objects.create(
            kind="insight",
            item_id=item.pk,
            source="officer",
            first_status="approved",
            first_at=item.received_at,
        )
    purge(now=NOW)
    assert list(SecondReview.objects.values_list("item_id", flat=True)) == [recent.pk]
    assert checkpoints("insights")[0].after["second_reviews"] == 1


@pytest.mark.parametrize("scope", ["all", "stream", "interaction"])
def test_a_legal_hold_keeps_what_it_covers(gov_admin, scope):
    held_stream, other_stream = make_stream(), make_stream()
    held = make_insight(
        stream=held_stream, received_at=LONG_AGO, review_status="rejected", interaction_id="c-9"
    )
    other = make_insight(stream=other_stream, received_at=LONG_AGO, review_status="approved")
    LegalHold.objects.create(
        scope=scope,
        stream=held_stream if scope == "stream" else None,
        interaction_id="c-9" if scope == "interaction" else "",
        reason="Matter 2026-117",
        placed_by=gov_admin,
    )
    purge(now=NOW)
    left = set(Insight.objects.values_list("pk", flat=True))
    assert held.pk in left
    assert (other.pk in left) == (scope == "all")
    if scope != "all":
        (checkpoint,) = checkpoints("insights")
        assert "Matter 2026-117" in checkpoint.after["holds"][0]


def test_a_lifted_hold_no_longer_keeps_anything(gov_admin):
    make_insight(received_at=LONG_AGO, review_status="approved")
    hold = LegalHold.objects.create(scope="all", reason="Matter 1", placed_by=gov_admin)
    purge(now=NOW)
    assert Insight.objects.count() == 1
    hold.released_at = timezone.now()
    hold.save()
    purge(now=NOW)
    assert Insight.objects.count() == 0


def test_a_dry_run_counts_and_changes_nothing():
    make_insight(received_at=LONG_AGO, review_status="approved")
    old_entries(3)
    before = AuditEntry.objects.count()
    outcomes = {o.kind: o for o in purge(now=NOW, dry_run=True)}
    assert (outcomes["insights"].count, outcomes["audit"].count) == (1, 3)
    assert Insight.objects.count() == 1 and AuditEntry.objects.count() == before


def test_purged_audit_entries_leave_a_chain_that_verifies_and_says_what_went(capsys):
    gone = old_entries(5)
    kept = old_entries(2, at=NOW - timedelta(days=10))
    purge(now=NOW, batch_size=3)
    left = list(AuditEntry.objects.order_by("id"))
    assert left[0].pk == kept[0].pk  # a prefix went: the five old entries
    first, second = checkpoints("audit")
    assert (first.after["first_id"], first.after["last_id"]) == (gone[0].pk, gone[2].pk)
    assert second.after["last_purged_hash"] == gone[-1].entry_hash == kept[0].prev_hash
    result = chain.verify()
    assert result.intact, result.problem
    assert len(result.purged) == 2 and "removed by the retention purge" in result.purged[0]
    call_command("verify_audit")
    assert "removed by the retention purge, checkpoint entry" in capsys.readouterr().out
    # The permits stay, each naming the checkpoint written for it (append-only, like entries).
    permits = PurgePermit.objects.order_by("id")
    permits = permits.values_list("checkpoint_id", "first_id", "up_to_id")
    assert list(permits) == [
        (first.pk, gone[0].pk, gone[2].pk),
        (second.pk, gone[3].pk, gone[4].pk),
    ]


def test_after_a_purge_an_edit_a_removal_or_a_changed_checkpoint_is_still_found():
    old_entries(3)
    kept = old_entries(3, at=NOW - timedelta(days=10))
    purge(now=NOW)
    (checkpoint,) = checkpoints("audit")
    raw_update("UPDATE audit_auditentry SET object_repr = 'x' WHERE id = %s", [kept[1].pk])
    assert chain.verify().broken_at == kept[1].pk
    raw_update(
        "UPDATE audit_auditentry SET object_repr = %s WHERE id = %s", ["Insight 1", kept[1].pk]
    )
    assert chain.verify().intact
    # Removing the first entry left, as if it had been purged too, without a checkpoint.
    raw_update("DELETE FROM audit_auditentry WHERE id = %s", [kept[0].pk])
    assert chain.verify().broken_at == kept[1].pk
    # A checkpoint rewritten to cover it no longer matches its own hash.
    after = dict(checkpoint.after, last_purged_hash=kept[0].entry_hash)
    raw_update(
        "UPDATE audit_auditentry SET after = %s WHERE id = %s",
        [json.dumps(after), checkpoint.pk],
    )
    result = chain.verify()
    assert not result.intact and result.broken_at == checkpoint.pk


def test_the_database_still_refuses_deletes_beyond_a_permit_and_every_update():
    old_entries(2)
    kept = old_entries(2, at=NOW - timedelta(days=10))
    purge(now=NOW)
    assert PurgePermit.objects.count() == 1
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=kept[1].pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=kept[0].pk).update(action="x")
    with pytest.raises(DatabaseError), transaction.atomic():
        PurgePermit.objects.all().delete()
    assert AuditEntry.objects.filter(pk__in=[e.pk for e in kept]).count() == 2


def test_any_hold_keeps_every_audit_entry(gov_admin):
    old_entries(3)
    LegalHold.objects.create(
        scope="interaction", interaction_id="c-1", reason="m", placed_by=gov_admin
    )
    outcomes = {o.kind: o for o in purge(now=NOW)}
    assert outcomes["audit"].held
    assert AuditEntry.objects.filter(action="insight.approve").count() == 3


def test_a_head_published_before_a_purge_is_counted_as_purged():
    """Heads published long ago (a folder of checkpoints kept for years) name entries the
    retention purge removed since: the chain still holds all it should."""
    gone = old_entries(3)
    old_entries(1, at=NOW - timedelta(days=1))
    purge(now=NOW)
    result = chain.verify(expect_head=chain.Head(gone[1].pk, gone[1].entry_hash))
    assert result.intact and result.heads_purged == 1


@pytest.mark.django_db(transaction=True)
async def test_the_worker_purges_each_period(settings):
    settings.RETENTION_PURGE_SECONDS = 1.0
    await cache.aclear()
    await sync_to_async(make_insight)(
        received_at=timezone.now() - timedelta(days=800), review_status="approved"
    )
    task = asyncio.create_task(retention_purger("worker-a"))
    try:
        await eventually(
            lambda: sync_to_async(lambda: not Insight.objects.exists())(),
            within=120,
            what="the scheduled purge",
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert await sync_to_async(checkpoints)("insights")


def test_the_purge_command_says_what_it_would_do_and_did(capsys):
    make_insight(received_at=timezone.now() - timedelta(days=800), review_status="approved")
    call_command("purge", "--dry-run")
    out = capsys.readouterr().out
    assert "insights and their decisions: 1 older than 13 months" in out and "would be" in out
    assert Insight.objects.count() == 1
    call_command("purge")
    assert "insights and their decisions: 1 purged" in capsys.readouterr().out


def test_an_item_pending_past_its_maximum_age_expires_by_rule_then_goes_in_its_time():
    stream = make_stream()
    waited = make_insight(stream=stream, received_at=NOW - timedelta(days=100))
    forgotten = make_insight(stream=stream, received_at=LONG_AGO)
    waiting = make_insight(stream=stream, received_at=NOW - timedelta(days=89))
    outcomes = {o.kind: o for o in purge(now=NOW)}
    assert outcomes["expired_insight"].count == 2
    waited.refresh_from_db()
    assert waited.review_status == "filtered" and waited.reviewed_by is None
    assert waited.review_rule == "expired: waited 90 days without a decision (retention policy)"
    # Expired, it is decided: past its own retention it goes like any decided item.
    assert set(Insight.objects.values_list("pk", flat=True)) == {waited.pk, waiting.pk}
    assert outcomes["insights"].count == 1
    entry = AuditEntry.objects.get(action="insight.expire_pending")
    assert entry.after["count"] == 2 and set(entry.after["ids"]) == {waited.pk, forgotten.pk}
    assert entry.actor_label == "Retention purge"
    waiting.refresh_from_db()
    assert waiting.review_status == "pending"


def test_every_place_that_keeps_people_s_data_is_under_retention(gov_admin):
    from axes.models import AccessAttempt, AccessLog
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session

    from audit.review.models import ItemOpening
    from streams.models import ConversationKey, GenesysFeedback, SubjectHash
    from streams.webhooks.models import OutboxBatch

    old = {"created_at": LONG_AGO}
    OutboxBatch.objects.create(event_type="insight.created", items=[{"x": 1}], **old)
    kept = make_insight(interaction_id="conv-still-here", received_at=NOW - timedelta(days=30))
    for conversation in ("conv-gone", "conv-still-here", "conv-held"):
        ConversationKey.objects.create(
            conversation_id=conversation, wrapped="w", master_key_id="k", **old
        )
        SubjectHash.objects.create(
            digest="d" * 64, kind="email", conversation_id=conversation, first_seen=LONG_AGO
        )
    LegalHold.objects.create(
        scope="interaction", interaction_id="conv-held", reason="case 7", placed_by=gov_admin
    )
    feedback = GenesysFeedback.objects.create(
        stream=kept.stream,
        conversation_id="c",
        rating="Negative",
        decided_by="o",
        status="sent",
        next_attempt_at=LONG_AGO,
    )
    GenesysFeedback.objects.filter(pk=feedback.pk).update(created_at=LONG_AGO)
    ItemOpening.objects.create(user=gov_admin, kind="insight", item_id=1, opened_at=LONG_AGO)
    attempt = AccessAttempt.objects.create(
        username="x", ip_address="10.0.0.1", failures_since_start=1
    )
    AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=LONG_AGO)
    log = AccessLog.objects.create(username="x", ip_address="10.0.0.1")
    AccessLog.objects.filter(pk=log.pk).update(attempt_time=LONG_AGO)
    session = SessionStore()
    session.create()
    Session.objects.filter(pk=session.session_key).update(expire_date=LONG_AGO)

    outcomes = {o.kind: o for o in purge(now=NOW)}
    assert not OutboxBatch.objects.exists() and outcomes["outbox"].count == 1
    assert not GenesysFeedback.objects.exists() and outcomes["feedback"].count == 1
    assert not ItemOpening.objects.exists() and outcomes["openings"].count == 1
    assert not AccessAttempt.objects.exists() and not AccessLog.objects.exists()
    assert not Session.objects.exists()  # ended sessions are cleared
    # A conversation's key and subject hashes go once nothing of it is left, unless held.
    left = set(ConversationKey.objects.values_list("conversation_id", flat=True))
    assert left == {"conv-still-here", "conv-held"}
    assert set(SubjectHash.objects.values_list("conversation_id", flat=True)) == left
    assert outcomes["keys"].count == 1 and outcomes["subjects"].count == 1
