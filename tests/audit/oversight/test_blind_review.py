"""A blind second review that is blind: while an item waits for it, the first decision, who
made it, the note and the correction are nowhere the second officer can look. One test per
channel, each signed in as that second officer; the first decider, admins and auditors
still see it all."""

import csv
import io

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group

from audit.oversight.models import OversightSettings, SecondReview
from audit.review.services import item_approve, item_reject
from tests.audit.reports.test_exports import download
from tests.audit.review.test_review_consumer import WAIT, open_socket, subscribed
from tests.factories import make_insight, make_knowledge_query

pytestmark = pytest.mark.django_db

NOTE = "Matches the fee schedule of May"
CORRECTION = "Quote the 40 EUR account fee"
SECRETS = ("olivia", NOTE, CORRECTION)  # the first officer, their note, their correction


@pytest.fixture
def second(django_user_model):
    """The officer who may be given the second review: anyone but the first decider."""
    user = django_user_model.objects.create_user(username="oona", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Compliance officers"))
    return user


@pytest.fixture
def waiting(officer):
    """An insight the first officer approved, with a note and a correction, sampled for a
    blind second review."""
    OversightSettings.objects.update_or_create(pk=1, defaults={"approval_share": 100.0})
    insight = make_insight(snippet="Quote the 40 euro fee", interaction_id="conv-blind")
    item_approve(item=insight, by=officer, note=NOTE, corrected_text=CORRECTION)
    assert SecondReview.objects.waiting().filter(item_id=insight.pk).exists()
    return insight


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return list(csv.DictReader(io.StringIO(download(response).lstrip("\ufeff"))))


def test_the_item_json_hides_the_decision_its_author_and_history(client, second, waiting):
    client.force_login(second)
    body = client.get(f"/review/items/insight/{waiting.pk}/").content.decode()
    assert leaks(body) == []
    assert "approve" not in body.lower()
    assert "waiting for a blind second review" in body


def test_the_conversation_timeline_hides_the_status(client, second, waiting):
    other = make_insight(stream=waiting.stream, interaction_id="conv-blind")
    client.force_login(second)
    context = client.get(f"/review/items/insight/{other.pk}/").json()
    statuses = {event["key"]: event["status"] for event in context["timeline"]}
    assert statuses[f"insight:{waiting.pk}"] == "second_review"


def test_the_first_decider_admins_and_auditors_still_see_it(
    client, officer, gov_admin, auditor, waiting
):
    for user in (officer, gov_admin, auditor):
        client.force_login(user)
        body = client.get(f"/review/items/insight/{waiting.pk}/").content.decode()
        assert "olivia" in body, user
        rows = csv_rows(client.get("/export/insights.csv"))
        assert rows[0]["Note"] == NOTE and rows[0]["Status"] == "approved", user


@pytest.mark.parametrize("kind", ["insights", "decisions"])
def test_the_csv_exports_hide_it(client, second, waiting, kind):
    client.force_login(second)
    (row,) = csv_rows(client.get(f"/export/{kind}.csv"))
    assert leaks(repr(row)) == []
    assert row.get("Status", row.get("Decision")) == "second_review"
    assert row["Reviewed by" if kind == "insights" else "Decided by"] == ""


def test_a_status_filter_does_not_tell_the_hidden_decision(client, second, waiting):
    client.force_login(second)
    for status in ("approved", "rejected", "filtered"):
        assert csv_rows(client.get(f"/export/insights.csv?status={status}")) == []
    assert len(csv_rows(client.get("/export/insights.csv?status=all"))) == 1


def test_the_knowledge_export_hides_an_answers_decision(client, officer, second):
    OversightSettings.objects.update_or_create(pk=1, defaults={"rejection_share": 100.0})
    answer = make_knowledge_query(review_status="pending", conversation_id="conv-k")
    item_reject(item=answer, by=officer, reason_code="outdated", note=NOTE)
    client.force_login(second)
    (row,) = csv_rows(client.get("/export/knowledge.csv"))
    assert leaks(repr(row)) == []
    assert (row["Review status"], row["Reason code"]) == ("second_review", "")
    assert csv_rows(client.get("/export/knowledge.csv?review_status=rejected")) == []


def test_the_admin_hides_it_in_list_detail_filter_and_export(client, second, waiting):
    client.force_login(second)
    listing = client.get("/admin/streams/insight/").content.decode()
    assert leaks(listing) == [] and "waiting for a blind second review" in listing
    detail = client.get(f"/admin/streams/insight/{waiting.pk}/change/").content.decode()
    assert leaks(detail) == [] and "waiting for a blind second review" in detail
    filtered = client.get("/admin/streams/insight/?review_status=approved").content.decode()
    assert "Quote the 40 euro fee" not in filtered
    exported = csv_rows(client.get("/admin/streams/insight/export/"))
    assert leaks(repr(exported)) == [] and exported[0]["Status"] == "second_review"


def test_the_admin_knowledge_page_hides_it(client, officer, second):
    OversightSettings.objects.update_or_create(pk=1, defaults={"approval_share": 100.0})
    answer = make_knowledge_query(review_status="pending")
    item_approve(item=answer, by=officer, note=NOTE)
    client.force_login(second)
    detail = client.get(f"/admin/streams/knowledgequery/{answer.pk}/change/").content.decode()
    assert leaks(detail) == []


def test_the_trail_is_not_open_to_the_second_officer(client, second, waiting):
    client.force_login(second)
    assert client.get("/audit/").status_code == 403
    assert client.get("/export/audit.csv").status_code == 403
    assert client.get("/admin/audit/auditentry/").status_code == 403


@pytest.mark.django_db(transaction=True)
async def test_the_socket_hides_it_whatever_filters_are_sent(client, second, waiting):
    for filters in (
        {"status": "all", "interaction_id": "conv-blind"},
        {"status": "all", "search": "fee"},
        {"status": "all"},
    ):
        socket, page = await subscribed(client, second, **filters)
        (row,) = page["items"]
        assert row["status"] == "second_review" and leaks(repr(row)) == [], filters
        assert row["reviewed_by"] is None and row["corrected_text"] == ""
        await socket.disconnect()
    for status in ("approved", "rejected", "filtered"):
        socket, page = await subscribed(client, second, status=status)
        assert page["items"] == [] and page["count"] == 0, status
        await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_deciding_it_again_over_the_socket_does_not_tell(client, second, waiting):
    socket, _ = await subscribed(client, second, status="all")
    await socket.send_json_to({"type": "decide", "id": waiting.pk, "decision": "approve"})
    answer = await socket.receive_json_from(timeout=WAIT)
    assert answer["type"] == "conflict"
    assert leaks(repr(answer)) == [] and "approved" not in answer["message"]
    assert "waits for a blind second review" in answer["message"]
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_live_updates_hide_a_decision_made_elsewhere(client, officer, second):
    await database_sync_to_async(OversightSettings.objects.update_or_create)(
        pk=1, defaults={"approval_share": 100.0}
    )
    insight = await database_sync_to_async(make_insight)(snippet="Offer the refund")
    socket, page = await subscribed(client, second, status="all")
    assert [row["key"] for row in page["items"]] == [f"insight:{insight.pk}"]
    first, _, _ = await open_socket(client, officer)
    await first.send_json_to({"type": "subscribe", "filters": {}})
    await first.receive_json_from(timeout=WAIT)
    await first.send_json_to(
        {"type": "decide", "id": insight.pk, "decision": "approve", "note": NOTE}
    )
    decided = await first.receive_json_from(timeout=WAIT)
    assert decided["items"][0]["note"] == NOTE  # the first officer sees their own decision
    while True:
        update = await socket.receive_json_from(timeout=WAIT)
        if update["type"] == "updates":
            break
    (row,) = update["items"]
    assert row["status"] == "second_review" and leaks(repr(row)) == []
    await first.disconnect()
    await socket.disconnect()
