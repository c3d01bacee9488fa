"""The review page's WebSocket: who may connect, what they get, what they may do."""

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from assistgov.asgi import application
from audit.models import AuditEntry
from streams import live
from streams.models import Insight
from tests.factories import make_insight

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def fresh_layer():
    await get_channel_layer().flush()


@database_sync_to_async
def session_cookie(client, user):
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def open_socket(client=None, user=None, origin=b"http://testserver"):
    headers = [(b"origin", origin)]
    if user is not None:
        headers.append((b"cookie", await session_cookie(client, user)))
    communicator = WebsocketCommunicator(application, "/ws/review/", headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def subscribed(client, user, **filters):
    communicator, connected, _ = await open_socket(client, user)
    assert connected
    await communicator.send_json_to({"type": "subscribe", "filters": filters})
    snapshot = await communicator.receive_json_from()
    assert snapshot["type"] == "snapshot"
    return communicator, snapshot


insight = database_sync_to_async(make_insight)


@database_sync_to_async
def reload(pk):
    return Insight.objects.select_related("reviewed_by").get(pk=pk)


async def test_an_anonymous_socket_is_refused():
    _, connected, code = await open_socket()
    assert not connected
    assert code == 4403


async def test_a_socket_from_another_origin_is_refused(client, officer):
    _, connected, _ = await open_socket(client, officer, origin=b"https://evil.example")
    assert not connected


async def test_a_user_without_a_role_is_refused(client, outsider):
    _, connected, code = await open_socket(client, outsider)
    assert (connected, code) == (False, 4403)


async def test_the_snapshot_is_lowest_confidence_first_and_filtered(client, officer):
    high = await insight(confidence=0.9)
    low = await insight(confidence=0.2)
    await insight(confidence=0.5, insight_type="sentiment_alert")
    communicator, snapshot = await subscribed(
        client, officer, insight_type="knowledge_recommendation"
    )
    assert [row["id"] for row in snapshot["insights"]] == [low.pk, high.pk]
    assert snapshot["can_review"] is True
    assert snapshot["insights"][0]["received_at"].endswith("Z")
    await communicator.disconnect()


async def test_an_officer_can_narrow_the_queue_to_one_interaction(client, officer):
    wanted = await insight(interaction_id="interaction-777")
    await insight(interaction_id="interaction-888")
    communicator, snapshot = await subscribed(client, officer, interaction_id=" interaction-777 ")
    assert [row["id"] for row in snapshot["insights"]] == [wanted.pk]
    await communicator.disconnect()


async def test_bad_filters_get_a_message_not_a_crash(client, officer):
    communicator, _ = await subscribed(client, officer)
    await communicator.send_json_to(
        {"type": "subscribe", "filters": {"min_confidence": 0.9, "max_confidence": 0.8}}
    )
    assert await communicator.receive_json_from() == {
        "type": "error",
        "message": "min confidence 0.9 is above max confidence 0.8",
    }
    await communicator.send_to(text_data="{not json")
    assert (await communicator.receive_json_from())["message"] == "the message is not JSON"
    await communicator.disconnect()


async def test_an_officer_approves_and_the_decision_is_audited(client, officer):
    target = await insight()
    communicator, _ = await subscribed(client, officer)
    await communicator.send_json_to(
        {"type": "decide", "id": target.pk, "decision": "approve", "note": "ok"}
    )
    reply = await communicator.receive_json_from()
    assert reply["type"] == "decided"
    assert reply["insights"][0]["status"] == "approved"
    assert reply["insights"][0]["reviewed_by"] == "olivia"
    decided = await reload(target.pk)
    assert (decided.review_status, decided.reviewed_by, decided.review_note) == (
        "approved",
        officer,
        "ok",
    )
    entry = await database_sync_to_async(AuditEntry.objects.get)(action="insight.approve")
    assert entry.request_id
    await communicator.disconnect()


async def test_a_reject_needs_a_reason_code(client, officer):
    target = await insight()
    communicator, _ = await subscribed(client, officer)
    await communicator.send_json_to({"type": "decide", "id": target.pk, "decision": "reject"})
    reply = await communicator.receive_json_from()
    assert reply["type"] == "error"
    assert "needs a reason code" in reply["message"]
    assert (await reload(target.pk)).review_status == "pending"
    await communicator.disconnect()


async def test_an_auditor_sees_but_cannot_decide(client, auditor):
    target = await insight()
    communicator, snapshot = await subscribed(client, auditor)
    assert snapshot["can_review"] is False
    assert [row["id"] for row in snapshot["insights"]] == [target.pk]
    await communicator.send_json_to({"type": "decide", "id": target.pk, "decision": "approve"})
    assert await communicator.receive_json_from() == {
        "type": "error",
        "message": "Your role cannot decide insights.",
    }
    assert (await reload(target.pk)).review_status == "pending"
    await communicator.disconnect()


async def test_two_officers_the_first_decision_wins_and_the_other_sees_why(
    client, officer, gov_admin
):
    target = await insight()
    first, _ = await subscribed(client, officer)
    second, _ = await subscribed(client, gov_admin)
    await first.send_json_to({"type": "decide", "id": target.pk, "decision": "approve"})
    assert (await first.receive_json_from())["type"] == "decided"

    pushed = await second.receive_json_from(timeout=2)
    assert pushed["type"] == "decisions"
    assert pushed["insights"][0]["id"] == target.pk
    assert pushed["insights"][0]["status"] == "approved"

    await second.send_json_to(
        {"type": "decide", "id": target.pk, "decision": "reject", "reason_code": "other"}
    )
    conflict = await second.receive_json_from()
    assert conflict["type"] == "conflict"
    assert "already approved by olivia" in conflict["message"]
    assert (await reload(target.pk)).review_status == "approved"
    await first.disconnect()
    await second.disconnect()


async def test_new_insights_arrive_batched_and_filtered(client, officer):
    communicator, _ = await subscribed(client, officer, insight_type="compliance_flag")
    wanted = await insight(insight_type="compliance_flag")
    other = await insight(insight_type="sentiment_alert")
    await live.announce_insights(get_channel_layer(), wanted.stream_id, [wanted.pk])
    await live.announce_insights(get_channel_layer(), other.stream_id, [other.pk])
    message = await communicator.receive_json_from(timeout=2)
    assert message["type"] == "insights"
    assert [row["id"] for row in message["insights"]] == [wanted.pk]
    assert await communicator.receive_nothing(timeout=0.4)
    await communicator.disconnect()


async def test_outside_text_travels_as_data(client, officer):
    payload = "<img src=x onerror=alert(1)>"
    await insight(snippet=payload)
    communicator, snapshot = await subscribed(client, officer)
    assert snapshot["insights"][0]["snippet"] == payload
    await communicator.disconnect()
