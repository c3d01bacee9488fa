import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from audit.review.services import DecisionConflict, item_approve, item_reject, items_decide_bulk
from audit.trail.models import AuditEntry
from audit.trail.record import Origin
from streams.live import REVIEW_GROUP
from streams.models import Insight, KnowledgeQuery
from streams.privacy.subjects import commitment
from tests.factories import make_insight, make_knowledge_query

pytestmark = pytest.mark.django_db


def origin(address="203.0.113.7"):
    request = RequestFactory().post("/admin/", REMOTE_ADDR=address)
    request.request_id = "req-123"
    return Origin.from_request(request)


def test_approving_records_who_when_and_an_audit_entry(officer):
    insight = make_insight()
    item_approve(item=insight, by=officer, note="matches KB-118", origin=origin())
    insight.refresh_from_db()
    assert insight.review_status == Insight.ReviewStatus.APPROVED
    assert insight.reviewed_by == officer
    assert insight.reviewed_at is not None
    entry = AuditEntry.objects.get()
    assert entry.action == "insight.approve"
    assert entry.actor == officer
    assert entry.actor_label == "olivia"
    assert entry.object_type == "streams.insight"
    assert entry.object_id == str(insight.pk)
    assert entry.before["review_status"] == "pending"
    assert entry.after == {
        "review_status": "approved",
        "reviewed_by": "olivia",
        "reviewed_at": insight.reviewed_at.isoformat(),
        "review_reason_code": "",
        "review_note": commitment("matches KB-118"),  # the words are on the item
        "review_rule": "",
        "corrected_text": "",
    }
    assert entry.client_address == "203.0.113.7"
    assert entry.request_id == "req-123"


def test_rejecting_needs_a_known_reason_code(officer):
    insight = make_insight()
    with pytest.raises(ValidationError, match="needs a reason: choose one of Outdated"):
        item_reject(item=insight, by=officer, reason_code="")
    with pytest.raises(ValidationError, match="'made-up' is not one of Outdated"):
        item_reject(item=insight, by=officer, reason_code="made-up")
    insight.refresh_from_db()
    assert insight.review_status == Insight.ReviewStatus.PENDING
    assert not AuditEntry.objects.exists()


def test_rejecting_records_the_reason_code_and_note(officer):
    insight = make_insight()
    item_reject(item=insight, by=officer, reason_code="outdated", note=" policy withdrawn ")
    insight.refresh_from_db()
    assert (insight.review_status, insight.review_reason_code, insight.review_note) == (
        "rejected",
        "outdated",
        "policy withdrawn",
    )
    assert AuditEntry.objects.get().action == "insight.reject"


def test_the_first_decision_wins_and_the_second_is_told_why(officer, gov_admin):
    insight = make_insight()
    stale_copy = Insight.objects.get(pk=insight.pk)
    item_approve(item=insight, by=officer)
    with pytest.raises(DecisionConflict, match=r"already approved by olivia at \d{4}-"):
        item_reject(item=stale_copy, by=gov_admin, reason_code="other")
    assert Insight.objects.get(pk=insight.pk).review_status == "approved"
    assert AuditEntry.objects.count() == 1


def test_an_overlong_note_is_refused(officer):
    with pytest.raises(ValidationError, match="limit is 2000"):
        item_approve(item=make_insight(), by=officer, note="x" * 2001)


def test_a_decision_is_announced_to_review_pages_after_commit(
    officer, django_capture_on_commit_callbacks
):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(REVIEW_GROUP, channel)
    insight = make_insight()
    with django_capture_on_commit_callbacks(execute=True):
        item_approve(item=insight, by=officer)
    message = async_to_sync(layer.receive)(channel)
    assert message == {"type": "review.decisions", "kind": "insight", "ids": [insight.pk]}
    async_to_sync(layer.group_discard)(REVIEW_GROUP, channel)


def test_a_knowledge_answer_rejected_is_audited_and_sent_to_webhooks(officer):
    from streams.models import WebhookDelivery, WebhookEndpoint
    from tests.factories import make_knowledge_query

    endpoint = WebhookEndpoint(name="lms", url="https://lms.example/hook", events=[])
    endpoint.events = ["knowledge.rejected"]
    endpoint.set_secret("whsec_test")
    endpoint.save()
    query = make_knowledge_query(origin="insight", review_status="pending", results=[])
    item_reject(item=query, by=officer, reason_code="outdated", note="old policy", origin=origin())
    query.refresh_from_db()
    assert (query.review_status, query.review_reason_code) == ("rejected", "outdated")
    entry = AuditEntry.objects.get(action="knowledge.reject")
    assert entry.object_type == "streams.knowledgequery" and entry.request_id == "req-123"
    assert entry.after["review_reason_code"] == "outdated"
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    data = delivery.payload["data"]
    assert delivery.event_type == "knowledge.rejected"
    assert (data["query_id"], data["reason_code"], data["reviewed_by"]) == (
        query.query_id,
        "outdated",
        "olivia",
    )


def test_a_reason_for_some_types_is_refused_for_others(officer, client):
    from django.urls import reverse

    from audit.vocabulary import ReasonCode

    ReasonCode.objects.create(
        code="outdated_article", label="Article out of date", insight_types=["knowledge.answer"]
    )
    flag = make_insight(insight_type="compliance_flag")
    with pytest.raises(ValidationError, match="for Knowledge answer only, not for Compliance"):
        item_reject(item=flag, by=officer, reason_code="outdated_article")
    answer = make_knowledge_query(origin="api", review_status="pending")
    item_reject(item=answer, by=officer, reason_code="outdated_article")
    assert KnowledgeQuery.objects.get(pk=answer.pk).review_reason_code == "outdated_article"

    # In bulk, items of other types are left, each with why.
    others = [make_insight(insight_type="compliance_flag") for _ in range(2)]
    answer2 = make_knowledge_query(origin="api", review_status="pending")
    result = items_decide_bulk(
        by=officer,
        decision="reject",
        reason_code="outdated_article",
        keys=[f"insight:{o.pk}" for o in others] + [f"knowledge:{answer2.pk}"],
    )
    assert result.decided == 1 and len(result.skipped) == 2
    assert "is not one for its type" in result.skipped[0]

    # The review page offers it for knowledge answers only.
    client.force_login(officer)
    page = client.get(reverse("review")).content.decode()
    assert (
        '<li data-types="knowledge.answer"><label><input type="radio" name="reason_code" '
        'value="outdated_article">' in page
    )
