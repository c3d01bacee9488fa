"""What the review page reads beside its queue: an item's context, the team's progress,
saved views."""

import json

import pytest
from django.urls import reverse

from audit.review.claims import items_claim_next
from audit.review.models import SavedView
from audit.review.selectors import ReviewFilters
from audit.review.services import item_approve, item_reject
from streams.models import ConfidenceRule, Insight
from tests.factories import make_insight, make_knowledge_query, make_stream

pytestmark = pytest.mark.django_db


def context_of(client, item):
    kind = "insight" if isinstance(item, Insight) else "knowledge"
    return client.get(reverse("review-item-context", args=[kind, item.pk])).json()


def test_the_context_shows_the_conversation_in_time_order(client, officer):
    stream = make_stream()
    first = make_insight(stream=stream, interaction_id="conv-9", snippet="greeting")
    answer = make_knowledge_query(conversation_id="conv-9", origin="api", review_status="pending")
    second = make_insight(stream=stream, interaction_id="conv-9", snippet="refund")
    make_insight(stream=stream, interaction_id="conv-other")
    client.force_login(officer)
    context = context_of(client, second)
    keys = [event["key"] for event in context["timeline"]]
    assert keys == [f"insight:{first.pk}", f"knowledge:{answer.pk}", f"insight:{second.pk}"]
    assert context["conversation"] == "conv-9"


def test_the_context_names_the_rule_that_applied_in_words(client, officer):
    stream = make_stream()
    ConfidenceRule.objects.create(
        matrix=stream.confidence_matrix,
        insight_type="compliance_flag",
        min_confidence=0.4,
        max_confidence=1.0,
        weight=0.9,
        auto_approve_at=0.95,
    )
    item = make_insight(stream=stream, insight_type="compliance_flag", confidence=0.5)
    client.force_login(officer)
    rule = context_of(client, item)["rule"]
    assert "Compliance flag: 0.40 to 1.00, weight 0.9" in rule
    assert "approved automatically at 0.95 or above" in rule


def test_the_history_lists_what_happened_to_the_item(client, officer):
    item = make_insight()
    items_claim_next(by=officer, filters=ReviewFilters())
    item_reject(item=Insight.objects.get(pk=item.pk), by=officer, reason_code="other")
    client.force_login(officer)
    history = context_of(client, item)["history"]
    assert [event["what"] for event in history] == ["Received", "Claimed", "Rejected"]
    assert history[2]["who"] == "olivia"


def test_the_context_of_an_unknown_item_is_a_clear_404(client, officer):
    client.force_login(officer)
    response = client.get(reverse("review-item-context", args=["insight", 999999]))
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "there is no insight 999999"


def test_progress_counts_today_s_decisions_and_claims_per_officer(client, officer, gov_admin):
    stream = make_stream()
    items = [make_insight(stream=stream) for _ in range(5)]
    item_approve(item=items[0], by=officer)
    item_approve(item=items[1], by=gov_admin)
    items_claim_next(by=officer, filters=ReviewFilters(), count=2)
    client.force_login(officer)
    progress = client.get(reverse("review-progress")).json()
    assert progress["me"] == {"decided_today": 1, "second_today": 0, "claimed": 2}
    assert progress["decided_today"] == 2
    assert progress["pending"] == 3
    assert {p["name"]: p["decided_today"] for p in progress["team"]} == {"adam": 1, "olivia": 1}


def test_an_officer_saves_views_and_only_admins_publish(client, officer, gov_admin):
    client.force_login(officer)
    url = reverse("review-views")
    saved = client.post(url, {"name": "Low flags", "query": "insight_type=compliance_flag"})
    assert [v["name"] for v in saved.json()["views"]] == ["Low flags"]
    assert "message" not in saved.json()  # saved as asked: nothing waits for anyone
    refused = client.post(url, {"name": "Team", "query": "status=pending", "published": "on"})
    assert refused.status_code == 403
    bad = client.post(url, {"name": "Bad", "query": "status=maybe"})
    assert bad.status_code == 400 and "status 'maybe'" in bad.json()["error"]["message"]
    unknown = client.post(url, {"name": "Bad", "query": "colour=red"})
    assert "colour: not a filter" in unknown.json()["error"]["message"]
    client.force_login(gov_admin)
    client.post(url, {"name": "Team", "query": "sort=newest", "published": "on"})
    client.force_login(officer)
    views = client.get(url).json()["views"]
    assert [(v["name"], v["published"], v["mine"]) for v in views] == [
        ("Team", True, False),
        ("Low flags", False, True),
    ]


def test_an_officer_deletes_only_their_own_views(client, officer, gov_admin):
    theirs = SavedView.objects.create(name="x", owner=gov_admin, query="", published=False)
    client.force_login(officer)
    response = client.post(reverse("review-view-delete", args=[theirs.pk]))
    assert response.status_code == 404
    assert SavedView.objects.filter(pk=theirs.pk).exists()


def test_auditors_save_no_views(client, auditor):
    client.force_login(auditor)
    response = client.post(reverse("review-views"), {"name": "mine", "query": "status=all"})
    assert response.status_code == 403
    assert "does not save views" in response.json()["error"]["message"]
    assert not SavedView.objects.exists()
    assert 'id="save-view"' not in client.get(reverse("review")).content.decode()
    assert client.get(reverse("review-views")).status_code == 200  # published ones to read


def test_the_page_says_per_type_what_approve_and_reject_mean(client, officer, gov_admin):
    from audit.vocabulary import TypeLabel

    client.force_login(officer)
    page = client.get(reverse("review"))
    meanings = json.loads(
        page.content.decode().split('id="type-meanings" type="application/json">')[1].split("<")[0]
    )
    assert meanings["compliance_flag"] == {
        "approve": "the flag is right: the agent must act on it",
        "reject": "a false alarm: nothing was wrong",
    }
    # An admin's own words are kept; a type without words shows none.
    TypeLabel.objects.filter(code="compliance_flag").update(approve_means="a real breach")
    TypeLabel.objects.filter(code="sentiment_alert").update(approve_means="", reject_means="")
    meanings = client.get(reverse("review")).context["type_meanings"]
    assert meanings["compliance_flag"]["approve"] == "a real breach"
    assert "sentiment_alert" not in meanings


@pytest.mark.usefixtures("four_eyes")
def test_what_a_published_view_shows_everyone_waits_for_a_second_admin(
    client, officer, gov_admin, admin2
):
    from streams.config import changes
    from streams.models import ChangeRequest

    url = reverse("review-views")
    client.force_login(gov_admin)
    answer = client.post(url, {"name": "Team", "query": "sort=newest", "published": "on"}).json()
    assert "waits for a second governance admin" in answer["message"]
    assert [(v["name"], v["published"]) for v in answer["views"]] == [("Team", False)]
    client.force_login(officer)
    assert client.get(url).json()["views"] == []
    changes.change_request_accept(change_request=ChangeRequest.objects.get(), by=admin2)
    assert [v["name"] for v in client.get(url).json()["views"]] == ["Team"]

    # Changing it, or removing it, is a request too; nothing moves before it is accepted.
    client.force_login(gov_admin)
    client.post(url, {"name": "Team", "query": "sort=oldest", "published": "on"})
    view = SavedView.objects.get(name="Team")
    assert (view.query, view.published) == ("sort=newest", True)
    removal = client.post(reverse("review-view-delete", args=[view.pk])).json()
    assert "removing it waits" in removal["message"]
    assert SavedView.objects.filter(pk=view.pk).exists()
    assert ChangeRequest.objects.pending().count() == 2


def _first_page(response):
    text = response.content.decode().split('id="first-page" type="application/json">')[1]
    return json.loads(text.split("</script>")[0])


def test_the_page_carries_its_first_rows_for_its_own_address(client, officer):
    stream = make_stream(name="stream-1")
    older = make_insight(stream=stream, insight_type="compliance_flag")
    newer = make_insight(
        stream=stream, insight_type="compliance_flag", snippet="</script><script>alert(1)"
    )
    make_insight(stream=stream, insight_type="script")
    client.force_login(officer)
    response = client.get(reverse("review") + "?insight_type=compliance_flag&sort=newest")
    # Outside text stays inside the JSON: the page's own script tag is not closed by it.
    assert "</script><script>alert(1)" not in response.content.decode()
    page = _first_page(response)
    assert page["query"] == "insight_type=compliance_flag&sort=newest"
    assert [row["key"] for row in page["items"]] == [f"insight:{newer.pk}", f"insight:{older.pk}"]
    assert page["items"][0]["snippet"] == "</script><script>alert(1)"
    assert page["count"] == 2 and page["can_decide"] == ["insight", "knowledge"]
    # Filters the page cannot read: no rows come with it; the socket will say what is wrong.
    assert _first_page(client.get(reverse("review") + "?sort=sideways")) is None
