"""Erasure on request, as a DPO would try it: a conversation whose texts are in every place
the product keeps them is found by its subject's e-mail address, erased (from the command
line at once; from the admin by a second person), and nothing of its words is left while
everything else stays and the audit chain verifies. A legal hold refuses it, saying why."""

import json
import time

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command

from audit.oversight.models import SecondReview
from audit.privacy import erasure
from audit.privacy.models import ErasureRequest
from audit.privacy.subjects import find_subject
from audit.review.services import item_approve
from audit.trail import chain
from audit.trail.models import AuditEntry, LegalHold
from streams.genesys.frames import Frame
from streams.genesys.scoring import Matrix
from streams.ingest.records import process_frame, read_seed_event
from streams.ingest.store import store_batch
from streams.models import (
    ConversationKey,
    GenesysFeedback,
    Insight,
    KnowledgeQuery,
    Original,
    QuarantinedFrame,
    SubjectHash,
    WebhookDelivery,
    WebhookEndpoint,
)
from streams.privacy.detect import Detector
from streams.privacy.erase import ERASED
from streams.privacy.protect import Protector
from streams.webhooks import outbox
from streams.webhooks.models import OutboxBatch
from tests.factories import make_knowledge_query, make_stream

pytestmark = pytest.mark.django_db

EMAIL = "jane.doe@example.com"
WORDS = "refund promised"  # what the customer said, besides the address


def suggestion(conversation, n):
    return json.dumps(
        {
            "type": "agentassist.insight",
            "id": f"evt-{conversation}-{n}",
            "interaction_id": conversation,
            "insight_type": "compliance_flag",
            "confidence": 0.7,
            "content": {"text": f"Customer {EMAIL} says {WORDS} in {conversation} ({n})"},
            "timestamp": "2026-12-07T10:00:00Z",
        }
    )


def ingest(stream, conversation, n=2, first=0):
    protect = Protector(Detector(), keep_originals=True)
    records = [
        process_frame(
            Frame(suggestion(conversation, first + i), time.time()),
            read=read_seed_event,
            matrix=Matrix(default_weight=1.0),
            max_frame_bytes=1 << 20,
            protect=protect,
        )
        for i in range(n)
    ]
    store_batch(stream.pk, records)


@pytest.fixture
def everywhere(settings, officer):
    """Conversation conv-a's words in every place, and conv-b beside it."""
    settings.PERSONAL_DATA_POLICY = "redacted_and_original"
    endpoint = WebhookEndpoint(
        name="lms", url="https://lms.test/h", events=["insight.created", "insight.approved"]
    )
    endpoint.set_secret(outbox.new_secret())
    endpoint.save()
    stream = make_stream()
    ingest(stream, "conv-a")
    ingest(stream, "conv-b")
    outbox.expand_batches()  # conv-b's batch stays an outbox batch; conv-a's are deliveries
    ingest(stream, "conv-a", n=1, first=2)
    insight = Insight.objects.filter(interaction_id="conv-a").first()
    item_approve(item=insight, by=officer, note=f"{WORDS}, checked")
    # The approval may have drawn a second review already (the draw is keyed on the id).
    SecondReview.objects.update_or_create(
        kind="insight",
        item_id=insight.pk,
        defaults={
            "source": "officer",
            "first_status": "approved",
            "first_at": insight.received_at,
            "second_note": f"agree, {WORDS}",
        },
    )
    query = make_knowledge_query(conversation_id="conv-a", text=f"{WORDS} policy")
    cache.set(f"knowledge:{query.cache_key}", {"text": query.query_text, "results": []})
    QuarantinedFrame.objects.create(
        stream=stream,
        received_at=insight.received_at,
        reason="invalid insight",
        raw=f'{{"interaction_id": "conv-a", "text": "{WORDS}"',
        raw_size=50,
    )
    GenesysFeedback.objects.create(
        stream=stream,
        conversation_id="conv-a",
        suggestion_id="s-1",
        rating="Negative",
        decided_by="olivia",
        comment=f"{WORDS}, checked",
        next_attempt_at=insight.received_at,
    )
    return stream


def words_left(conversation) -> list[str]:
    """Every place that still holds the conversation's words."""
    places = {
        "insights": [
            json.dumps([i.snippet, i.payload, i.review_note, i.corrected_text])
            for i in Insight.objects.filter(interaction_id=conversation)
        ],
        "knowledge": [
            json.dumps([q.query_text, q.results])
            for q in KnowledgeQuery.objects.filter(conversation_id=conversation)
        ],
        "quarantine": list(
            QuarantinedFrame.objects.filter(raw__contains=conversation).values_list(
                "raw", flat=True
            )
        ),
        "outbox": [json.dumps(b.items) for b in OutboxBatch.objects.all()],
        "deliveries": [json.dumps(d.payload) for d in WebhookDelivery.objects.all()],
        "feedback": list(
            GenesysFeedback.objects.filter(conversation_id=conversation).values_list(
                "comment", flat=True
            )
        ),
        "second reviews": list(SecondReview.objects.values_list("second_note", flat=True)),
        "audit trail": [
            json.dumps([e.object_repr, e.before, e.after]) for e in AuditEntry.objects.all()
        ],
    }
    # The conversation's own words, and what officers wrote about its items (conv-a's).
    markers = [f"{WORDS} in {conversation}"]
    if conversation == "conv-a":
        markers += [f"{WORDS}, checked", f"agree, {WORDS}", f"{WORDS} policy", f'"{WORDS}"']
    return [
        place
        for place, texts in places.items()
        if any(marker in text for marker in markers for text in texts)
    ]


def test_a_subject_is_found_then_erased_everywhere_and_the_chain_still_verifies(everywhere, capsys):
    found = find_subject(kind="email", value=" Jane.Doe@Example.com ", actor_label="dpo test")
    assert [row["conversation_id"] for row in found] == ["conv-b", "conv-a"] or {
        row["conversation_id"] for row in found
    } == {"conv-a", "conv-b"}
    lookup = AuditEntry.objects.get(action="privacy.find")
    assert EMAIL not in json.dumps([lookup.object_repr, lookup.after, lookup.object_id])
    # The fixture put them everywhere but the audit trail (which never holds them).
    assert set(words_left("conv-a")) == {
        *("insights", "knowledge", "quarantine", "outbox", "deliveries"),
        *("feedback", "second reviews"),
    }

    call_command("erase", conversation="conv-a", reason="Art. 17 request", request="DSR-1042")

    assert words_left("conv-a") == []
    assert not ConversationKey.objects.filter(conversation_id="conv-a").exists()
    assert not Original.objects.filter(key__conversation_id="conv-a").exists()
    assert not SubjectHash.objects.filter(conversation_id="conv-a").exists()
    assert cache.get(f"knowledge:{'k' * 64}") is None
    # What is not words stays: the rows, their decisions, their ids.
    insight = Insight.objects.filter(interaction_id="conv-a", review_status="approved").get()
    assert insight.snippet == ERASED and insight.reviewed_by.username == "olivia"
    # The other conversation is untouched.
    other = Insight.objects.filter(interaction_id="conv-b").first()
    assert "[email] says refund promised in conv-b" in other.snippet
    assert ConversationKey.objects.filter(conversation_id="conv-b").exists()
    # The erasure is on record, with its reference, reason and counts.
    entry = AuditEntry.objects.get(action="privacy.erase")
    assert entry.object_id == "conv-a" and entry.actor_label.startswith("erase (command line)")
    assert entry.after["reference"] == "DSR-1042" and entry.after["reason"] == "Art. 17 request"
    counts = entry.after["counts"]
    assert counts["insights and summaries"] == 3 and counts["knowledge queries"] == 1
    assert counts["quarantined frames"] == 1 and counts["verdicts for Genesys"] == 1
    assert counts["sealed originals"] >= 1 and counts["subject hashes"] == 1
    assert counts["officers' second reviews and rulings"] == 1
    assert counts["webhook outbox batches"] + counts["webhook deliveries"] >= 1
    assert chain.verify().intact
    call_command("verify_audit")
    printed = capsys.readouterr().out
    assert "Conversation conv-a erased" in printed and "insights and summaries: 3" in printed
    assert (
        find_subject(kind="email", value=EMAIL, actor_label="dpo test")[0]["conversation_id"]
        == "conv-b"
    )


def test_a_legal_hold_refuses_the_erasure_and_says_what_to_do(everywhere, gov_admin):
    LegalHold.objects.create(
        scope="interaction", interaction_id="conv-a", reason="case 7", placed_by=gov_admin
    )
    with pytest.raises(CommandError, match=r"a legal hold covers it .*case 7.*released"):
        call_command("erase", conversation="conv-a", reason="Art. 17 request")
    assert "insights" in words_left("conv-a")
    assert not AuditEntry.objects.filter(action="privacy.erase").exists()


def test_from_the_admin_a_second_person_carries_it_out(everywhere, gov_admin, dpo, client):
    client.force_login(gov_admin)
    response = client.post(
        "/admin/audit/erasurerequest/add/",
        {"conversation_id": "conv-a", "reference": "DSR-7", "reason": "the subject asked"},
    )
    assert response.status_code == 302
    request = ErasureRequest.objects.get()
    assert request.status == "pending" and words_left("conv-a")
    action = {"action": "carry_out_selected", "_selected_action": [request.pk]}
    # The person who asked cannot carry it out.
    response = client.post("/admin/audit/erasurerequest/", action, follow=True)
    assert "a second person" in response.content.decode()
    request.refresh_from_db()
    assert request.status == "pending" and words_left("conv-a")
    # A data protection officer can.
    client.force_login(dpo)
    response = client.post("/admin/audit/erasurerequest/", action, follow=True)
    assert "Conversation conv-a erased" in response.content.decode()
    request.refresh_from_db()
    assert request.status == "erased" and request.decided_by == dpo
    assert request.counts["insights and summaries"] == 3
    assert words_left("conv-a") == []
    erased = AuditEntry.objects.get(action="privacy.erase")
    assert erased.actor == dpo and erased.after["requested_by"] == "adam"
    assert chain.verify().intact


def test_a_hold_placed_after_the_request_refuses_it_when_carried_out(everywhere, gov_admin, dpo):
    request = erasure.request_erasure(
        conversation_id="conv-a", reason="the subject asked", reference="", by=gov_admin
    )
    LegalHold.objects.create(scope="all", reason="regulator inquiry", placed_by=gov_admin)
    done = erasure.carry_out(request, by=dpo)
    assert done.status == "refused" and "regulator inquiry" in done.comment
    assert words_left("conv-a")
    assert AuditEntry.objects.filter(action="privacy.erase_refused").exists()


def test_an_officer_cannot_ask_for_an_erasure(everywhere, officer, client):
    client.force_login(officer)
    response = client.post(
        "/admin/audit/erasurerequest/add/",
        {"conversation_id": "conv-a", "reference": "", "reason": "because"},
    )
    assert response.status_code == 403
    assert not ErasureRequest.objects.exists()
