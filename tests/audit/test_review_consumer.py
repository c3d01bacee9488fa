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
# How long a message may take to arrive: a bound against a hang, not a speed limit (a busy
# machine can be several times slower than a quiet one).
WAIT = 15


@pytest.fixture(autouse=True)
async def fresh_layer():
    await get_channel_layer().flush()


@database_sync_to_async
def session_cookie(client, user):
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def open_socket(client=None, user=None, origin=b"http://testserver"):
    headers = [(b"origin", origin), (b"host", b"testserver")]
    if user is not None:
        headers.append((b"cookie", await session_cookie(client, user)))
    communicator = WebsocketCommunicator(application, "/ws/review/", headers=headers)
    connected, code = await communicator.connect(timeout=WAIT)
    return communicator, connected, code


async def subscribed(client, user, **filters):
    communicator, connected, _ = await open_socket(client, user)
    assert connected
    await communicator.send_json_to({"type": "subscribe", "filters": filters})
    snapshot = await communicator.receive_json_from(timeout=WAIT)
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


@pytest.mark.parametrize(
    ("origin", "host", "admitted"),
    [
        (b"http://example.org", b"example.org", True),
        (b"http://example.org:8081", b"example.org", False),  # another port
        (b"https://example.org:4443", b"example.org", False),  # another scheme and port
        (b"https://example.org", b"example.org", False),  # the page was plain http
        (b"http://example.org:8081", b"example.org:8081", True),  # served on that port
        (b"http://evil.example", b"evil.example", False),  # not an allowed host
        (b"https://console.example", b"example.org", True),  # a CSRF trusted origin
    ],
)
async def test_only_the_pages_exact_origin_may_open_the_socket(
    client, officer, settings, origin, host, admitted
):
    settings.ALLOWED_HOSTS = ["example.org"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://console.example"]
    headers = [(b"origin", origin), (b"host", host)]
    headers.append((b"cookie", await session_cookie(client, officer)))
    communicator = WebsocketCommunicator(application, "/ws/review/", headers=headers)
    connected, _ = await communicator.connect(timeout=WAIT)
    assert connected is admitted
    await communicator.disconnect()


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
    assert [row["id"] for row in snapshot["items"]] == [low.pk, high.pk]
    assert snapshot["can_decide"] == ["insight", "knowledge"]
    assert snapshot["items"][0]["received_at"].endswith("Z")
    await communicator.disconnect()


async def test_an_officer_can_narrow_the_queue_to_one_interaction(client, officer):
    wanted = await insight(interaction_id="interaction-777")
    await insight(interaction_id="interaction-888")
    communicator, snapshot = await subscribed(client, officer, interaction_id=" interaction-777 ")
    assert [row["id"] for row in snapshot["items"]] == [wanted.pk]
    await communicator.disconnect()


async def test_bad_filters_get_a_message_not_a_crash(client, officer):
    communicator, _ = await subscribed(client, officer)
    await communicator.send_json_to(
        {"type": "subscribe", "filters": {"min_confidence": 0.9, "max_confidence": 0.8}}
    )
    assert await communicator.receive_json_from(timeout=WAIT) == {
        "type": "error",
        "message": "min confidence 0.9 is above max confidence 0.8",
    }
    await communicator.send_to(text_data="{not json")
    assert (await communicator.receive_json_from(timeout=WAIT))[
        "message"
    ] == "the message is not JSON"
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("message", "says"),
    [
        ({"type": "subscribe", "filters": {"stream": "9" * 30}}, "is not an id"),
        ({"type": "subscribe", "filters": "all"}, "filters"),
        ({"type": "decide", "kind": ["x"], "id": 1, "decision": "approve"}, "kind must be"),
        ({"type": "decide", "id": 1.9, "decision": "approve"}, "id: Input should be"),
        ({"type": "decide", "id": True, "decision": "approve"}, "id: Input should be"),
        ({"type": "decide", "id": "1", "decision": "approve"}, "id: Input should be"),
        ({"type": "decide", "id": 10**30, "decision": "approve"}, "id:"),
        ({"type": "decide", "id": 1, "decision": "maybe"}, "decision must be approve or reject"),
        ({"type": "dance"}, "unknown message type"),
        ([1, 2], "unknown message type"),
    ],
)
async def test_a_bad_message_gets_an_error_and_the_socket_stays_open(
    client, officer, message, says
):
    target = await insight()
    communicator, _ = await subscribed(client, officer)
    await communicator.send_json_to(message)
    reply = await communicator.receive_json_from(timeout=WAIT)
    assert reply["type"] == "error" and says in reply["message"], reply
    assert (await reload(target.pk)).review_status == "pending"  # 1.9 or true is not id 1
    await communicator.send_json_to({"type": "subscribe", "filters": {}})
    assert (await communicator.receive_json_from(timeout=WAIT))["type"] == "snapshot"  # still open
    await communicator.disconnect()


async def test_an_officer_approves_and_the_decision_is_audited(client, officer):
    target = await insight()
    communicator, _ = await subscribed(client, officer)
    await communicator.send_json_to(
        {"type": "decide", "id": target.pk, "decision": "approve", "note": "ok"}
    )
    reply = await communicator.receive_json_from(timeout=WAIT)
    assert reply["type"] == "decided"
    assert reply["items"][0]["status"] == "approved"
    assert reply["items"][0]["reviewed_by"] == "olivia"
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
    reply = await communicator.receive_json_from(timeout=WAIT)
    assert reply["type"] == "error"
    assert "needs a reason code" in reply["message"]
    assert (await reload(target.pk)).review_status == "pending"
    await communicator.disconnect()


async def test_an_auditor_sees_but_cannot_decide(client, auditor):
    target = await insight()
    communicator, snapshot = await subscribed(client, auditor)
    assert snapshot["can_decide"] == []
    assert [row["id"] for row in snapshot["items"]] == [target.pk]
    await communicator.send_json_to({"type": "decide", "id": target.pk, "decision": "approve"})
    assert await communicator.receive_json_from(timeout=WAIT) == {
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
    assert (await first.receive_json_from(timeout=WAIT))["type"] == "decided"

    pushed = await second.receive_json_from(timeout=WAIT)
    assert pushed["type"] == "decisions"
    assert pushed["items"][0]["id"] == target.pk
    assert pushed["items"][0]["status"] == "approved"

    await second.send_json_to(
        {"type": "decide", "id": target.pk, "decision": "reject", "reason_code": "other"}
    )
    conflict = await second.receive_json_from(timeout=WAIT)
    assert conflict["type"] == "conflict"
    assert "already approved by olivia" in conflict["message"]
    assert (await reload(target.pk)).review_status == "approved"
    await first.disconnect()
    await second.disconnect()


async def test_new_insights_arrive_batched_and_filtered(client, officer):
    communicator, _ = await subscribed(client, officer, insight_type="compliance_flag")
    wanted = await insight(insight_type="compliance_flag")
    other = await insight(insight_type="sentiment_alert")
    await live.announce_insights(get_channel_layer(), [wanted.pk])
    await live.announce_insights(get_channel_layer(), [other.pk])
    message = await communicator.receive_json_from(timeout=WAIT)
    assert message["type"] == "items"
    assert [row["id"] for row in message["items"]] == [wanted.pk]
    assert await communicator.receive_nothing(timeout=0.4)
    await communicator.disconnect()


async def test_outside_text_travels_as_data(client, officer):
    payload = "<img src=x onerror=alert(1)>"
    await insight(snippet=payload)
    communicator, snapshot = await subscribed(client, officer)
    assert snapshot["items"][0]["snippet"] == payload
    await communicator.disconnect()


# Knowledge answers an agent received join the same queue.

PASSED_RESULT = {
    "document_id": "doc-1",
    "title": "Refunds <b>policy</b>",
    "snippet": "30 days",
    "url": "javascript:alert(1)",
    "knowledge_base_id": "kb-1",
    "confidence": 0.55,
    "last_updated": "2026-11-01T00:00:00Z",
    "outcome": "passed",
    "reason": "",
    "rank": 1,
}
STALE_RESULT = {**PASSED_RESULT, "document_id": "doc-2", "outcome": "stale", "rank": None}


@database_sync_to_async
def answer(**fields):
    from tests.factories import make_knowledge_query

    fields = {
        "origin": "api",
        "review_status": "pending",
        "top_confidence": 0.55,
        "results": [PASSED_RESULT, STALE_RESULT],
        **fields,
    }
    return make_knowledge_query(**fields)


@database_sync_to_async
def reload_answer(pk):
    from streams.models import KnowledgeQuery

    return KnowledgeQuery.objects.select_related("reviewed_by").get(pk=pk)


async def test_knowledge_answers_join_the_queue_in_confidence_order(client, officer):
    high = await insight(confidence=0.9)
    low = await insight(confidence=0.2)
    middle = await answer(text="refund window", top_confidence=0.55)
    await answer(origin="console", review_status="")  # an officer's own query: not for review
    await answer(origin="warming", review_status="")
    communicator, snapshot = await subscribed(client, officer)
    keys = [row["key"] for row in snapshot["items"]]
    assert keys == [f"insight:{low.pk}", f"knowledge:{middle.pk}", f"insight:{high.pk}"]
    row = snapshot["items"][1]
    assert (row["kind"], row["insight_type"], row["snippet"]) == (
        "knowledge",
        "knowledge.answer",
        "refund window",
    )
    assert row["stream"] == middle.stream.name and row["interaction_id"] == "conv-1"
    # Only what reached the agent is shown as results; the rest is counted.
    assert [r["title"] for r in row["knowledge"]["results"]] == ["Refunds <b>policy</b>"]
    assert row["knowledge"]["filtered"] == 1 and row["knowledge"]["origin"] == "API"
    await communicator.disconnect()


async def test_the_queue_narrows_to_knowledge_answers_or_one_knowledge_stream(client, officer):
    await insight()
    first = await answer()
    second = await answer()
    communicator, snapshot = await subscribed(client, officer, insight_type="knowledge.answer")
    assert [row["id"] for row in snapshot["items"]] == [first.pk, second.pk]
    await communicator.send_json_to(
        {"type": "subscribe", "filters": {"stream": f"knowledge:{second.stream_id}"}}
    )
    narrowed = await communicator.receive_json_from(timeout=WAIT)
    assert [row["key"] for row in narrowed["items"]] == [f"knowledge:{second.pk}"]
    await communicator.send_json_to(
        {"type": "subscribe", "filters": {"insight_type": "knowledge_recommendation"}}
    )
    insights_only = await communicator.receive_json_from(timeout=WAIT)
    assert {row["kind"] for row in insights_only["items"]} == {"insight"}
    await communicator.send_json_to({"type": "subscribe", "filters": {"stream": "knowledge:x"}})
    assert await communicator.receive_json_from(timeout=WAIT) == {
        "type": "error",
        "message": "stream 'knowledge:x' is not an id",
    }
    await communicator.disconnect()


async def test_an_officer_approves_a_knowledge_answer_and_other_pages_see_it(
    client, officer, gov_admin
):
    target = await answer()
    first, _ = await subscribed(client, officer)
    second, _ = await subscribed(client, gov_admin)
    await first.send_json_to(
        {"type": "decide", "kind": "knowledge", "id": target.pk, "decision": "approve"}
    )
    reply = await first.receive_json_from(timeout=WAIT)
    assert reply["type"] == "decided"
    assert (reply["items"][0]["key"], reply["items"][0]["status"]) == (
        f"knowledge:{target.pk}",
        "approved",
    )
    pushed = await second.receive_json_from(timeout=WAIT)
    assert pushed["type"] == "decisions" and pushed["items"][0]["key"] == f"knowledge:{target.pk}"

    decided = await reload_answer(target.pk)
    assert (decided.review_status, decided.reviewed_by) == ("approved", officer)
    entry = await database_sync_to_async(AuditEntry.objects.get)(action="knowledge.approve")
    assert entry.object_type == "streams.knowledgequery" and entry.object_id == str(target.pk)
    assert entry.after["review_status"] == "approved"

    await second.send_json_to(
        {
            "type": "decide",
            "kind": "knowledge",
            "id": target.pk,
            "decision": "reject",
            "reason_code": "other",
        }
    )
    conflict = await second.receive_json_from(timeout=WAIT)
    assert conflict["type"] == "conflict"
    assert conflict["message"].startswith(f"Knowledge answer {target.pk} was already approved")
    await first.disconnect()
    await second.disconnect()


async def test_a_knowledge_answer_not_for_review_cannot_be_decided(client, officer):
    console = await answer(origin="console", review_status="")
    communicator, _ = await subscribed(client, officer)
    await communicator.send_json_to(
        {"type": "decide", "kind": "knowledge", "id": console.pk, "decision": "approve"}
    )
    reply = await communicator.receive_json_from(timeout=WAIT)
    assert reply["type"] == "conflict"
    assert reply["message"] == f"Knowledge answer {console.pk} is not for review."
    assert (await reload_answer(console.pk)).review_status == ""
    await communicator.send_json_to({"type": "decide", "kind": "other", "id": 1})
    assert (await communicator.receive_json_from(timeout=WAIT))["message"] == (
        "kind must be insight or knowledge"
    )
    await communicator.disconnect()


async def test_an_auditor_cannot_decide_knowledge_answers(client, auditor):
    target = await answer()
    communicator, snapshot = await subscribed(client, auditor)
    assert [row["key"] for row in snapshot["items"]] == [f"knowledge:{target.pk}"]
    await communicator.send_json_to(
        {"type": "decide", "kind": "knowledge", "id": target.pk, "decision": "approve"}
    )
    assert (await communicator.receive_json_from(timeout=WAIT))["message"] == (
        "Your role cannot decide knowledge answers."
    )
    assert (await reload_answer(target.pk)).review_status == "pending"
    await communicator.disconnect()


async def test_a_stored_knowledge_answer_reaches_open_pages(client, officer):
    from streams.knowledge.search import query_store

    communicator, _ = await subscribed(client, officer)
    query = await database_sync_to_async(_unsaved_answer)()
    await database_sync_to_async(query_store)(query)
    message = await communicator.receive_json_from(timeout=WAIT)
    assert message["type"] == "items"
    assert [row["key"] for row in message["items"]] == [f"knowledge:{query.pk}"]
    await communicator.disconnect()


def _unsaved_answer():
    from tests.factories import make_knowledge_query

    return make_knowledge_query(
        save=False,
        origin="insight",
        review_status="pending",
        top_confidence=0.7,
        results=[PASSED_RESULT],
    )


async def test_knowledge_answers_reach_only_users_allowed_to_see_them(client, django_user_model):
    """A custom group with insights but not knowledge queries sees insights only, live too."""
    from django.contrib.auth.models import Permission

    @database_sync_to_async
    def insight_reader():
        user = django_user_model.objects.create_user("ivy", password="pw")
        user.user_permissions.add(
            Permission.objects.get(codename="view_insight", content_type__app_label="streams")
        )
        return user

    shown = await insight()
    hidden = await answer()
    communicator, snapshot = await subscribed(client, await insight_reader())
    assert [row["key"] for row in snapshot["items"]] == [f"insight:{shown.pk}"]
    await database_sync_to_async(live.announce_knowledge)([hidden.pk])
    await database_sync_to_async(live.announce_decisions)([hidden.pk], "knowledge")
    assert await communicator.receive_nothing(timeout=0.6)
    await communicator.disconnect()


async def test_open_pages_share_one_read_per_update_and_filters_stay_their_own(
    client, officer, monkeypatch
):
    from audit import consumers

    reads = []
    real_rows = consumers._rows

    def counted(ids_by_kind, filters):
        reads.append(filters)
        return real_rows(ids_by_kind, filters)

    monkeypatch.setattr(consumers, "_rows", counted)
    pages = [(await subscribed(client, officer))[0] for _ in range(5)]
    narrow, _ = await subscribed(client, officer, insight_type="sentiment_alert")
    wanted = await insight(insight_type="compliance_flag")
    await live.announce_insights(get_channel_layer(), [wanted.pk])
    for page in pages:
        message = await page.receive_json_from(timeout=WAIT)
        assert [row["id"] for row in message["items"]] == [wanted.pk]
    assert await narrow.receive_nothing(timeout=0.4)
    # One read for the five pages with the same filters, one for the narrow page.
    assert sorted(f.insight_type for f in reads if f is not None) == ["", "sentiment_alert"]
    for page in [*pages, narrow]:
        await page.disconnect()


async def test_a_page_that_closed_before_its_update_is_no_error(client, officer, caplog):
    from autobahn.exception import Disconnected

    from audit.consumers import ReviewConsumer

    page, _ = await subscribed(client, officer)
    wanted = await insight()

    async def closed(self, text_data=None, bytes_data=None, close=False):
        raise Disconnected("Attempt to send on a closed protocol")

    real_send = ReviewConsumer.send
    ReviewConsumer.send = closed
    try:
        await live.announce_insights(get_channel_layer(), [wanted.pk])
        assert await page.receive_nothing(timeout=0.4)
    finally:
        ReviewConsumer.send = real_send
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    await page.disconnect()
