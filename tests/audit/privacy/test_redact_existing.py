"""What earlier versions stored in clear is cleaned: the streams' rows in batches that a
second run resumes after, and the audit trail re-chained under a checkpoint that keeps the
old head's hash, so verify_audit passes, a head published before is accounted for, and the
database still refuses any other change to an entry."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from audit.oversight.models import SecondReview
from audit.trail import chain
from audit.trail.models import AuditEntry, RechainPermit
from audit.trail.record import audit_record
from streams.models import GenesysFeedback, Insight, KnowledgeQuery, QuarantinedFrame, SubjectHash
from streams.privacy.subjects import commitment
from tests.audit.trail.test_chain import raw_update
from tests.factories import make_insight, make_knowledge_query

pytestmark = pytest.mark.django_db

CARD, EMAIL = "4111 1111 1111 1111", "jane.doe@example.com"


@pytest.fixture
def stored_in_clear():
    """Rows and audit entries as versions before detection wrote them."""
    audit_record(action="test.before", actor_label="t", object_repr="nothing personal")
    insight = make_insight(
        snippet=f"Customer card {CARD}, mail {EMAIL}",
        payload={"content": {"text": f"card {CARD}"}},
        interaction_id="conv-old",
    )
    Insight.objects.filter(pk=insight.pk).update(review_note=f"read {CARD}")
    query = make_knowledge_query(text=f"refund to {EMAIL}", conversation_id="conv-old")
    QuarantinedFrame.objects.create(
        stream=insight.stream,
        received_at=insight.received_at,
        reason="r",
        raw=f"{{{EMAIL}",
        raw_size=5,
    )
    GenesysFeedback.objects.create(
        stream=insight.stream,
        conversation_id="conv-old",
        rating="Negative",
        decided_by="o",
        comment=f"wrong card {CARD}",
        next_attempt_at=insight.received_at,
    )
    SecondReview.objects.create(
        kind="insight",
        item_id=insight.pk,
        source="officer",
        first_status="approved",
        first_at=insight.received_at,
        second_note=f"customer {EMAIL}",
    )
    audit_record(
        action="knowledge.query",
        actor_label="agent",
        object_type="streams.knowledgequery",
        object_id=query.query_id,
        object_repr=f"refund to {EMAIL}",
    )
    audit_record(
        action="insight.approve",
        actor_label="olivia",
        object_type="streams.insight",
        object_id=str(insight.pk),
        object_repr="insight 1",
        after={
            "review_status": "approved",
            "review_note": "fee is 40",
            "corrected_text": f"call {CARD}",
        },
    )
    audit_record(action="test.after", actor_label="t", object_repr="nothing personal either")
    return insight


def in_clear() -> list[str]:
    rows = [
        *Insight.objects.values_list("snippet", "payload", "review_note"),
        *KnowledgeQuery.objects.values_list("query_text"),
        *QuarantinedFrame.objects.values_list("raw"),
        *GenesysFeedback.objects.values_list("comment"),
        *SecondReview.objects.values_list("second_note"),
        *AuditEntry.objects.values_list("object_repr", "before", "after"),
    ]
    text = json.dumps(rows, default=str)
    return [value for value in (CARD, EMAIL, "fee is 40") if value in text]


def test_a_dry_run_counts_and_changes_nothing(stored_in_clear, capsys):
    entries = AuditEntry.objects.count()
    call_command("redact_existing", "--dry-run")
    out = capsys.readouterr().out
    assert "insights: 1 of 1 would be cleaned" in out
    assert "audit trail: 4 entries read, 2 hold personal data" in out
    assert in_clear() == [CARD, EMAIL, "fee is 40"]
    assert AuditEntry.objects.count() == entries


def test_everything_is_cleaned_and_the_chain_verifies(stored_in_clear, capsys):
    published = chain.head()
    call_command("redact_existing", "--batch-size", "1")
    out = capsys.readouterr().out
    assert in_clear() == []
    insight = Insight.objects.get()
    assert insight.snippet == "Customer card ****1111, mail [email]"
    assert SubjectHash.objects.filter(conversation_id="conv-old").count() == 2  # card, email
    entry = AuditEntry.objects.get(action="insight.approve")
    assert entry.after["review_note"] == commitment("fee is 40")
    assert entry.after["corrected_text"] == commitment(f"call {CARD}")
    checkpoint = AuditEntry.objects.get(action="privacy.redact_trail")
    # It covers the chain up to itself (the batches' entries too) and keeps the old head.
    assert checkpoint.after["last_id"] == checkpoint.pk - 1
    assert len(checkpoint.after["old_head_hash"]) == 64
    assert len(checkpoint.after["changed_ids"]) == 2
    assert "re-chained; checkpoint entry" in out
    # The chain verifies, and still holds the head published before, as re-chained.
    result = chain.verify(expect_head=published)
    assert result.intact and result.heads_rechained == 1 and result.rechained
    call_command("verify_audit", "--expect-head", str(published))
    assert "re-chained to take personal data out" in capsys.readouterr().out
    # The window is shut: no entry can be changed now, in the range or out of it.
    for target in (entry, AuditEntry.objects.order_by("id").first()):
        with pytest.raises(DatabaseError), transaction.atomic():
            AuditEntry.objects.filter(pk=target.pk).update(object_repr="changed")


def test_a_second_run_resumes_after_the_last_batch(stored_in_clear, capsys):
    call_command("redact_existing", "--no-trail")
    capsys.readouterr()
    make_insight(snippet=f"card {CARD}")  # arrives after, as an old version stored it
    call_command("redact_existing", "--no-trail")
    out = capsys.readouterr().out
    assert "insights: 1 of 1 cleaned" in out  # only the new row was read
    assert "knowledge queries: 0 of 0 cleaned" in out


def test_a_broken_chain_is_not_re_chained(stored_in_clear):
    entry = AuditEntry.objects.get(action="test.after")
    raw_update("UPDATE audit_auditentry SET object_repr = %s WHERE id = %s", ["edited", entry.pk])
    with pytest.raises(CommandError, match="does not verify"):
        call_command("redact_existing")
    assert not AuditEntry.objects.filter(action="privacy.redact_trail").exists()


def test_a_permit_not_written_by_a_re_chaining_is_refused(stored_in_clear):
    newest = chain.head().entry_id
    with pytest.raises(DatabaseError), transaction.atomic():
        RechainPermit.objects.create(checkpoint_id=newest, first_id=1, up_to_id=newest - 1)
    assert connection.vendor in ("sqlite", "postgresql")
