"""One vocabulary: insight types read as labels admins can rename; charts in fitting buckets."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from audit.reports import dashboard
from audit.trail.models import AuditEntry
from audit.vocabulary import TypeLabel, type_label
from streams.models import ConfidenceRule, Insight
from tests.factories import make_insight, make_stream

pytestmark = pytest.mark.django_db


def test_known_types_have_default_labels_and_unknown_ones_read_as_words():
    assert type_label("compliance_flag") == "Compliance flag"
    assert type_label("knowledge_search") == "Knowledge search"
    assert type_label("next_best_action") == "Next best action"


def test_an_admin_renames_a_type_and_the_review_page_uses_it_with_an_audit_entry(
    client, gov_admin, officer
):
    client.force_login(gov_admin)
    label = TypeLabel.objects.get(code="compliance_flag")
    url = reverse("admin:audit_typelabel_change", args=[label.pk])
    response = client.post(url, {"code": "compliance_flag", "label": "Regulatory flag"})
    assert response.status_code == 302
    entry = AuditEntry.objects.filter(action="insight_type_label.update").get()
    assert (entry.before["label"], entry.after["label"]) == ("Compliance flag", "Regulatory flag")

    client.force_login(officer)
    page = client.get(reverse("review")).content.decode()
    assert '<option value="compliance_flag" data-type-code>Regulatory flag</option>' in page
    assert '"compliance_flag": "Regulatory flag"' in page  # for the rows the page draws


def test_a_rule_reads_as_a_sentence():
    rule = ConfidenceRule(
        insight_type="compliance_flag",
        min_confidence=0.4,
        max_confidence=1.0,
        weight=0.9,
        auto_approve_at=0.95,
    )
    assert str(rule) == "Compliance flag: 0.40 to 1.00, weight 0.9, auto-approve at 0.95"


def at(minutes: float) -> datetime:
    return datetime(2026, 11, 30, 9, 0, tzinfo=UTC) + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("span_minutes", "bucket"),
    [(0, 1), (40, 1), (50, 5), (200, 5), (300, 15), (60 * 24, 60), (60 * 24 * 30, 1440)],
)
def test_buckets_fit_the_time_the_data_spans(span_minutes, bucket):
    assert dashboard.bucket_minutes(at(0), at(span_minutes)) == bucket


def test_the_first_hour_is_shown_in_minutes_with_empty_buckets_kept():
    stream = make_stream(name="s")
    for minute, kind in [(0, "compliance_flag"), (0.5, "compliance_flag"), (3, "sentiment_alert")]:
        make_insight(stream=stream, insight_type=kind, received_at=at(minute))
    times, series, minutes = dashboard.per_type_over_time(Insight.objects.all(), 24)
    assert minutes == 1
    assert times == [at(0), at(1), at(2), at(3)]
    assert series == {"compliance_flag": [2, 0, 0, 0], "sentiment_alert": [0, 0, 0, 1]}
    table = dashboard.per_type_table(times, series, {c: type_label(c) for c in series})
    assert table["columns"] == ["Compliance flag", "Sentiment alert"]
    assert [row["counts"] for row in table["rows"]] == [[2, 0], [0, 1]]


def test_the_dashboard_says_when_there_is_nothing_yet(client, officer):
    client.force_login(officer)
    page = client.get(reverse("dashboard")).content.decode()
    assert "No insights in this window yet." in page
    assert "No decisions in this window yet" in page
    assert "No decisions by people in this window yet" in page
    make_insight(insight_type="sentiment_alert")
    page = client.get(reverse("dashboard")).content.decode()
    assert "The same figures as a table" in page and "Sentiment alert" in page
    assert "per minute" in page


@pytest.mark.parametrize(
    ("minutes", "words"),
    [
        (1, "per minute"),
        (15, "per 15 minutes"),
        (60, "per hour"),
        (180, "per 3 hours"),
        (1440, "per day"),
    ],
)
def test_bucket_lengths_read_as_words(minutes, words):
    from audit.templatetags.words import per_bucket

    assert per_bucket(minutes) == words


def test_knowledge_streams_show_in_stream_health_with_their_last_hour(client, officer):
    from tests.factories import make_knowledge_query

    make_knowledge_query(status="answered")
    failed = make_knowledge_query(status="timeout", error_message="Genesys did not answer in 5 s")
    client.force_login(officer)
    page = client.get(reverse("dashboard")).content.decode()
    assert 'id="knowledge-health"' in page
    assert f"<td>{failed.stream.name}</td>" in page
    assert "Genesys did not answer in 5 s" in page


def test_knowledge_health_shows_the_reported_state_in_one_query(
    client, officer, django_assert_num_queries
):
    from tests.factories import make_knowledge_stream

    make_knowledge_stream(
        name="kn-a", state="reconnecting", state_detail="closed (1011); retrying in 2 s"
    )
    make_knowledge_stream(name="kn-b", enabled=False)
    with django_assert_num_queries(1):
        rows = dashboard.knowledge_health()
    assert [(row["name"], row["state"]) for row in rows] == [
        ("kn-a", "reconnecting"),
        ("kn-b", "disabled"),
    ]
    client.force_login(officer)
    page = client.get(reverse("dashboard")).content.decode()
    assert 'Reconnecting<br><small class="muted">closed (1011); retrying in 2 s</small>' in page
    assert "Disabled: refuses queries" in page


def test_the_insight_list_reads_types_as_labels_without_a_query_per_row(client, gov_admin):
    TypeLabel.objects.filter(code="compliance_flag").update(label="Regulatory flag")
    stream = make_stream(name="s")
    for _ in range(3):
        make_insight(stream=stream, insight_type="compliance_flag")
    make_insight(stream=stream, insight_type="next_best_action")
    client.force_login(gov_admin)
    page = client.get(reverse("admin:streams_insight_changelist")).content.decode()
    assert page.count('<td class="field-type_display">Regulatory flag</td>') == 3
    assert '<td class="field-type_display">Next best action</td>' in page
    assert ">Regulatory flag</a>" in page  # the type filter, by label
