"""The audit trail page: categories, filters, folding, paging, the CSV of what it shows."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.trail.categories import Category, category_of, category_q
from audit.trail.models import AuditEntry
from audit.trail.pages import lines
from audit.trail.record import audit_record
from tests.audit.reports.test_exports import download, read

pytestmark = pytest.mark.django_db

# One action of every shape the product writes, with the category people expect.
ACTIONS = {
    "insight.approve": Category.DECISIONS,
    "knowledge.reject": Category.DECISIONS,
    "insight.correct": Category.DECISIONS,
    "insight.claim": Category.DECISIONS,
    "insight.release": Category.DECISIONS,
    "insight.assign": Category.DECISIONS,
    "stream_configuration.change": Category.CONFIGURATION,
    "confidence_matrix.create": Category.CONFIGURATION,
    "webhook_endpoint.disable": Category.CONFIGURATION,
    "saved_view.publish": Category.CONFIGURATION,
    "security.sign_in": Category.SECURITY,
    "security.lockout": Category.SECURITY,
    "export.download": Category.SECURITY,
    "audit.view": Category.SECURITY,
    "audit.chain_broken": Category.SECURITY,
    "insight.auto_decide": Category.SYSTEM,
    "knowledge.query": Category.SYSTEM,
    "stream.run_start": Category.SYSTEM,
    "audit.verify": Category.SYSTEM,
}


def test_each_action_has_the_category_people_expect_and_the_database_agrees():
    for action in ACTIONS:
        audit_record(action=action, actor_label="t")
    assert {action: category_of(action) for action in ACTIONS} == ACTIONS
    for category in Category:
        in_database = set(
            AuditEntry.objects.filter(category_q(category)).values_list("action", flat=True)
        )
        assert in_database == {a for a, c in ACTIONS.items() if c == category}, category


def rows(page: str) -> int:
    return page.count('<tr class="category-') + page.count('<tr class="folded"')


def test_the_default_view_hides_system_activity_and_says_how_much(client, auditor):
    for _ in range(7):
        audit_record(action="knowledge.query", actor_label="Automatic search")
    audit_record(action="insight.approve", actor_label="olivia", object_repr="Insight 12")
    client.force_login(auditor)
    page = client.get(reverse("audit-trail")).content.decode()
    assert "7 system records" in page and "are hidden" in page
    assert "Insight 12" in page and "Approved" in page
    assert "Automatic search" not in page
    everything = client.get(reverse("audit-trail"), {"category": "all"}).content.decode()
    assert "hidden" not in everything.split('id="trail"')[0].split("</form>")[-1]
    # Seven searches in a row fold into one line; the approval, the auditor's sign-in and
    # the opening of the trail are lines of their own.
    assert "7 \u00d7 Searched" in everything
    assert everything.count('<tr class="folded"') == 1


def test_folding_joins_only_consecutive_system_records_alike():
    made = [
        audit_record(action=action, actor_label=actor)
        for action, actor in [
            ("knowledge.query", "search for insight 1"),
            ("knowledge.query", "search for insight 2"),
            ("insight.auto_decide", "rules"),
            ("insight.approve", "olivia"),
            ("insight.approve", "olivia"),
            ("knowledge.query", "search for insight 3"),
        ]
    ]
    folded = lines(list(reversed(made)))
    assert [len(line.entries) for line in folded] == [1, 1, 1, 1, 2]
    assert folded[-1].actor == "search for insight 2 and 1 other"


def test_filters_by_category_actor_action_object_and_time(client, auditor):
    audit_record(
        action="insight.approve", actor_label="olivia", object_id="41", object_repr="Refund offer"
    )
    audit_record(
        action="insight.reject",
        actor_label="OSCAR",
        object_id="42",
        object_repr="Card number read out",
    )
    audit_record(
        action="stream_configuration.change", actor_label="adam", object_repr="eu-insights"
    )
    client.force_login(auditor)

    def shown(**params):
        page = client.get(reverse("audit-trail"), params).content.decode()
        return {
            name for name in ("Refund offer", "Card number read out", "eu-insights") if name in page
        }

    assert shown(category="decisions") == {"Refund offer", "Card number read out"}
    assert shown(category="configuration") == {"eu-insights"}
    assert shown(actor="oscar") == {"Card number read out"}
    assert shown(action="insight.approve") == {"Refund offer"}
    assert shown(object="42") == {"Card number read out"}
    assert shown(object="refund") == {"Refund offer"}
    later = (timezone.localtime() + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    assert shown(since=later) == set()
    assert shown(until=later) == {"Refund offer", "Card number read out", "eu-insights"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"category": "noise"}, "category &#x27;noise&#x27; is not one of"),
        ({"since": "yesterday"}, "since &#x27;yesterday&#x27; is not a date and time"),
        ({"since": "2026-11-30T10:00", "until": "2026-11-30T09:00"}, "since is after until"),
        ({"before": "x1"}, "before &#x27;x1&#x27; is not an entry number"),
        ({"actor": "x" * 201}, "actor: 200 characters at most"),
    ],
)
def test_a_wrong_filter_is_a_page_that_says_what_to_fix(client, auditor, params, message):
    client.force_login(auditor)
    response = client.get(reverse("audit-trail"), params)
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    assert "clear the filters" in page


def test_pages_go_back_in_time_fifty_at_a_time(client, auditor):
    for number in range(120):
        audit_record(action="insight.approve", actor_label="olivia", object_repr=f"item-{number}")
    client.force_login(auditor)
    first = client.get(reverse("audit-trail"), {"actor": "olivia"}).content.decode()
    assert rows(first) == 50 and "item-119<" in first and "item-70<" in first
    assert "Newest entries" not in first
    link = first[first.rindex('href="?', 0, first.index("Older entries")) + 7 :]
    link = link[: link.index('"')].replace("&amp;", "&")
    second = client.get(reverse("audit-trail") + "?" + link).content.decode()
    assert rows(second) == 50 and "item-69<" in second and "item-70<" not in second
    assert "Newest entries" in second and "Older entries" in second


def test_opening_the_trail_is_recorded_once_and_paging_is_not(client, auditor):
    client.force_login(auditor)
    client.get(reverse("audit-trail"), {"category": "decisions"})
    client.get(reverse("audit-trail"), {"category": "decisions", "before": "999999"})
    reads = AuditEntry.objects.filter(action="audit.view")
    assert reads.count() == 1
    read = reads.get()
    assert read.actor_label == "audrey"
    assert read.after["parameters"] == {"category": "decisions"}
    assert category_of(read.action) == Category.SECURITY


def test_an_officer_may_not_open_the_trail_and_the_refusal_is_recorded(client, officer):
    client.force_login(officer)
    assert client.get(reverse("audit-trail")).status_code == 403
    refusal = AuditEntry.objects.get(action="security.denied")
    assert refusal.actor_label == "olivia"
    assert refusal.after["role"] == "Compliance officers"
    assert refusal.object_repr == "/audit/"


def test_the_csv_link_downloads_what_the_page_shows(client, auditor):
    audit_record(action="insight.approve", actor_label="olivia", object_repr="Refund offer")
    audit_record(action="knowledge.query", actor_label="Automatic search", object_repr="refunds")
    client.force_login(auditor)
    page = client.get(reverse("audit-trail"), {"actor": "olivia"}).content.decode()
    page = page[page.index('id="trail-downloads"') :]  # after the whole trail's downloads
    href = page[page.index(reverse("audit-export", args=["csv"])) :]
    href = href[: href.index('"')].replace("&amp;", "&")
    table = read(download(client.get(href)))
    assert [row["Object"] for row in table] == ["Refund offer"]
    # Without filters, the export holds everything, system records too.
    everything = read(download(client.get(reverse("export-csv", args=["audit"]))))
    assert "refunds" in [row["Object"] for row in everything]


def test_the_admin_list_hides_system_activity_unless_asked(admin_client):
    audit_record(action="knowledge.query", actor_label="Automatic search", object_repr="refunds")
    audit_record(action="insight.approve", actor_label="olivia", object_repr="Refund offer")
    url = reverse("admin:audit_auditentry_changelist")
    page = admin_client.get(url).content.decode()
    assert "Refund offer" in page and "refunds" not in page
    assert "Everything but system activity" in page
    page = admin_client.get(url, {"category": "system"}).content.decode()
    assert "refunds" in page and "Refund offer" not in page
    page = admin_client.get(url, {"category": "all"}).content.decode()
    assert "refunds" in page and "Refund offer" in page
