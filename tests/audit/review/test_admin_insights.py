import pytest
from django.urls import reverse

from audit.trail.models import AuditEntry
from streams.models import Insight
from tests.factories import make_insight

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:streams_insight_changelist")


def act(client, action, insights, **extra):
    data = {"action": action, "_selected_action": [i.pk for i in insights], **extra}
    return client.post(CHANGELIST, data, REMOTE_ADDR="198.51.100.4", HTTP_X_REQUEST_ID="trace-42")


def test_an_officer_sees_the_insight_list(client, officer):
    make_insight(snippet="Offer the 30-day refund")
    client.force_login(officer)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert b"Offer the 30-day refund" in response.content


def test_someone_without_a_role_cannot(client, outsider):
    client.force_login(outsider)
    assert client.get(CHANGELIST).status_code == 403


def test_outside_text_is_escaped(client, officer):
    insight = make_insight(snippet="<script>alert('x')</script>", interaction_id="<b>i</b>")
    client.force_login(officer)
    for url in (CHANGELIST, reverse("admin:streams_insight_change", args=[insight.pk])):
        content = client.get(url).content.decode()
        assert "<script>alert" not in content
        assert "&lt;script&gt;alert" in content


def test_approve_asks_for_confirmation_then_decides_and_audits(client, officer):
    insight = make_insight()
    client.force_login(officer)
    confirm = act(client, "approve_selected", [insight])
    assert confirm.status_code == 200
    assert b"Note (optional)" in confirm.content
    assert Insight.objects.get().review_status == "pending"

    done = act(client, "approve_selected", [insight], apply="1", note="")
    assert done.status_code == 302
    insight.refresh_from_db()
    assert insight.review_status == "approved"
    assert insight.reviewed_by == officer
    entry = AuditEntry.objects.get(action="insight.approve")
    assert (entry.client_address, entry.request_id) == ("198.51.100.4", "trace-42")


def test_reject_without_a_reason_is_refused_with_a_message(client, officer):
    insight = make_insight()
    client.force_login(officer)
    response = act(client, "reject_selected", [insight], apply="1", reason_code="", note="x")
    assert response.status_code == 200
    assert b"A rejection needs a reason." in response.content
    assert Insight.objects.get().review_status == "pending"


def test_reject_with_a_reason_decides_every_selected_insight(client, officer):
    insights = [make_insight(), make_insight()]
    client.force_login(officer)
    response = act(
        client, "reject_selected", insights, apply="1", reason_code="outdated", note="stale article"
    )
    assert response.status_code == 302
    assert set(
        Insight.objects.values_list("review_status", "review_reason_code", "review_note")
    ) == {("rejected", "outdated", "stale article")}
    assert AuditEntry.objects.filter(action="insight.reject").count() == 2


def test_already_decided_insights_are_left_alone_and_reported(client, officer, gov_admin):
    insight = make_insight()
    client.force_login(gov_admin)
    act(client, "approve_selected", [insight], apply="1")
    client.force_login(officer)
    response = act(client, "reject_selected", [insight], apply="1", reason_code="other")
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("already approved by adam" in m for m in messages)
    assert Insight.objects.get().review_status == "approved"


def test_an_auditor_can_read_but_not_decide(client, auditor):
    insight = make_insight()
    client.force_login(auditor)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert b"approve_selected" not in page.content
    act(client, "approve_selected", [insight], apply="1")
    assert Insight.objects.get().review_status == "pending"
    # Only the sign-in is recorded: no decision.
    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["security.sign_in"]


def test_insights_cannot_be_added_changed_or_deleted_by_anyone(client, gov_admin):
    insight = make_insight()
    client.force_login(gov_admin)
    assert client.get(reverse("admin:streams_insight_add")).status_code == 403
    assert (
        client.post(
            reverse("admin:streams_insight_delete", args=[insight.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert Insight.objects.exists()


def test_the_list_filters_by_status_type_and_stream(client, officer):
    make_insight(insight_type="sentiment_alert", snippet="sentiment one")
    make_insight(insight_type="compliance_flag", snippet="compliance one")
    client.force_login(officer)
    response = client.get(
        CHANGELIST, {"insight_type": "compliance_flag", "review_status__exact": "pending"}
    )
    assert b"compliance one" in response.content
    assert b"sentiment one" not in response.content


def test_the_list_searches_interaction_ids_and_text(client, officer):
    make_insight(interaction_id="interaction-777", snippet="first")
    make_insight(snippet="refund the customer")
    client.force_login(officer)
    assert b"first" in client.get(CHANGELIST, {"q": "interaction-777"}).content
    found = client.get(CHANGELIST, {"q": "refund the"}).content
    assert b"refund the customer" in found
    assert b"first" not in found


def test_a_large_unfiltered_list_is_counted_by_estimate_on_postgresql(monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from streams.admin_base import LargeTablePaginator

    for n in range(3):
        make_insight(insight_type="intent" if n else "script")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE streams_insight")
    monkeypatch.setattr(LargeTablePaginator, "ESTIMATE_FROM", 1)
    with CaptureQueriesContext(connection) as queries:
        everything = LargeTablePaginator(Insight.objects.order_by("pk"), 100).count
    counted = any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)
    assert everything == 3  # the estimate, right after ANALYZE, is exact here
    assert counted == (connection.vendor != "postgresql")
    with CaptureQueriesContext(connection) as queries:
        filtered = LargeTablePaginator(
            Insight.objects.filter(insight_type="intent").order_by("pk"), 100
        ).count
    assert filtered == 2
    assert any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)


def test_the_review_queue_puts_insights_without_confidence_first_within_its_limit():
    from audit.review.queue import review_queue
    from audit.review.selectors import ReviewFilters

    low, high = make_insight(confidence=0.1), make_insight(confidence=0.9)
    unknown = [make_insight(confidence=None, relevance_score=None) for _ in range(2)]
    rows = review_queue(ReviewFilters(), limit=3)
    assert [r["id"] for r in rows["items"]] == [unknown[0].pk, unknown[1].pk, low.pk]
    assert rows["more"]
    rows = review_queue(ReviewFilters(), limit=1)
    assert [r["id"] for r in rows["items"]] == [unknown[0].pk]
    rows = review_queue(ReviewFilters(), limit=10)
    assert [r["id"] for r in rows["items"]] == [unknown[0].pk, unknown[1].pk, low.pk, high.pk]
