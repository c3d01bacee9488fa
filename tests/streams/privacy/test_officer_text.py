"""Officers quote what they read: a note or a correction that carries a customer's card
number or e-mail address is kept, exported and sent on without it, and the trail keeps only
a commitment to the words (so erasing the item's words leaves the chain whole)."""

import json

import pytest

from audit.review.services import item_approve, item_reject
from audit.trail.models import AuditEntry
from streams.models import WebhookDelivery, WebhookEndpoint
from streams.privacy.subjects import commitment
from streams.webhooks import outbox
from tests.factories import make_insight

pytestmark = pytest.mark.django_db

CARD, EMAIL = "4111 1111 1111 1111", "jane.doe@example.com"


def test_a_note_and_a_correction_lose_the_personal_data_they_quote(officer):
    endpoint = WebhookEndpoint(name="lms", url="https://lms.test/h", events=["insight.approved"])
    endpoint.set_secret(outbox.new_secret())
    endpoint.save()
    insight = make_insight(snippet="Offer the refund")
    item_approve(
        item=insight,
        by=officer,
        note=f"customer read out {CARD}",
        corrected_text=f"Offer the refund; confirm by mail to {EMAIL}",
    )
    insight.refresh_from_db()
    assert insight.review_note == "customer read out card ****1111"
    assert insight.corrected_text == "Offer the refund; confirm by mail to [email]"
    entry = AuditEntry.objects.get(action="insight.approve")
    assert entry.after["review_note"] == commitment(insight.review_note)
    assert entry.after["corrected_text"] == commitment(insight.corrected_text)
    sent = json.dumps(WebhookDelivery.objects.get().payload)
    assert "card ****1111" in sent and "[email]" in sent
    written = json.dumps(entry.after) + sent
    assert CARD not in written and EMAIL not in written


def test_a_rejection_note_too(officer):
    insight = make_insight()
    item_reject(item=insight, by=officer, reason_code="inaccurate", note=f"mail {EMAIL}")
    insight.refresh_from_db()
    assert insight.review_note == "mail [email]"
