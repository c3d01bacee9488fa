import pytest
from django.urls import reverse

from audit.reports import dashboard
from audit.review.services import item_approve, item_reject
from streams.models import Insight
from tests.factories import make_insight, make_stream

pytestmark = pytest.mark.django_db


def decided(confidence, outcome, by):
    insight = make_insight(confidence=confidence)
    if outcome == "approved":
        item_approve(item=insight, by=by)
    else:
        item_reject(item=insight, by=by, reason_code="other")


def test_calibration_counts_peoples_decisions_per_confidence_bucket(officer):
    decided(0.12, "approved", officer)
    decided(0.13, "rejected", officer)
    decided(0.14, "rejected", officer)
    decided(1.0, "approved", officer)
    make_insight(confidence=0.11)  # pending: received, not decided
    buckets = dashboard.calibration(Insight.objects.all())
    low = buckets[2]  # 0.10 to 0.15
    assert (low["received"], low["approved"], low["rejected"]) == (4, 1, 2)
    assert low["rate"] == pytest.approx(1 / 3)
    assert buckets[-1]["approved"] == 1, "confidence 1.0 belongs to the top bucket"
    assert buckets[5]["rate"] is None


def test_rule_approvals_do_not_count_as_calibration(officer):
    Insight.objects.filter(pk=make_insight(confidence=0.5).pk).update(
        review_status="approved", review_rule="auto"
    )
    assert dashboard.calibration(Insight.objects.all())[10]["approved"] == 0


def test_the_threshold_table_says_what_a_minimum_would_have_filtered(officer):
    decided(0.52, "approved", officer)
    decided(0.58, "rejected", officer)
    make_insight(confidence=0.9)
    table = {
        row["threshold"]: row
        for row in dashboard.threshold_table(dashboard.calibration(Insight.objects.all()))
    }
    assert table[0.5]["filtered"] == 0
    assert (table[0.55]["filtered"], table[0.55]["approved"]) == (1, 1)
    assert (table[0.6]["filtered"], table[0.6]["rejected"]) == (2, 1)
    assert table[0.95]["filtered"] == 3


def test_outcomes_split_people_and_rules(officer):
    decided(0.5, "approved", officer)
    Insight.objects.filter(pk=make_insight().pk).update(
        review_status="approved", review_rule="auto"
    )
    Insight.objects.filter(pk=make_insight().pk).update(
        review_status="filtered", review_rule="auto"
    )
    make_insight()
    rows = {row["status"]: row for row in dashboard.outcomes(Insight.objects.all())}
    assert rows["approved"] == {"status": "approved", "total": 2, "people": 1, "rules": 1}
    assert rows["filtered"]["rules"] == 1
    assert rows["pending"]["total"] == 1
    assert rows["rejected"]["total"] == 0


def test_latency_percentiles():
    for latency in range(1, 101):
        make_insight(latency_ms=float(latency))
    result = dashboard.latency_percentiles(Insight.objects.all())
    assert (result["p50"], result["p95"], result["p99"], result["count"]) == (
        51.0,
        96.0,
        100.0,
        100,
    )
    assert dashboard.latency_percentiles(Insight.objects.none())["p50"] is None


def test_the_page_renders_charts_with_outside_names_escaped(client, officer):
    make_insight(insight_type="<b>bold</b>")
    decided(0.3, "approved", officer)
    client.force_login(officer)
    page = client.get(reverse("dashboard")).content.decode()
    assert page.count("<svg") == 3
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "<b>bold</b>" not in page


def test_a_bad_window_is_a_clear_400(client, officer):
    client.force_login(officer)
    response = client.get(reverse("dashboard"), {"hours": "forever"})
    assert (response.status_code, response.content) == (
        400,
        b"hours 'forever' is not a whole number",
    )
    assert client.get(reverse("dashboard"), {"hours": "0"}).status_code == 400


def test_stream_health_is_served_for_live_updates(client, auditor):
    insight = make_insight()
    insight.stream.status.state = "reconnecting"
    insight.stream.status.save()
    client.force_login(auditor)
    (stream,) = client.get(reverse("dashboard-health")).json()["streams"]
    assert (stream["name"], stream["state"]) == (insight.stream.name, "reconnecting")


def test_the_dashboard_shows_the_team_s_day(client, officer, gov_admin):
    from audit.review.claims import items_claim_next
    from audit.review.selectors import ReviewFilters

    stream = make_stream()
    items = [make_insight(stream=stream) for _ in range(4)]
    item_approve(item=items[0], by=gov_admin)
    items_claim_next(by=officer, filters=ReviewFilters(), count=2)
    client.force_login(officer)
    page = client.get("/dashboard/").content.decode()
    assert "1 decided by people today;" in page and "3 waiting for review now" in page
    assert '<td>adam</td><td class="number">1</td><td class="number">0</td>' in page
    assert (
        '<td>olivia</td><td class="number">0</td><td class="number">0</td><td class="number">2</td>'
        in page
    )
