"""The review page's WebSocket: who may connect, what they get, what they may do."""

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from assistgov.asgi import application
from audit.review import services
from audit.trail.models import AuditEntry
from streams import live
from streams.models import Insight
from tests.factories import make_insight, make_stream

pytestmark = pytest.mark.django_db(transaction=True)
# How long a message may take to arrive: a bound against a hang, not a speed limit (a busy
# machine can be several times slower than a quiet one).
WAIT = 15


@pytest.fixture(autouse=True)
async def fresh_layer():
    await get_channel_layer().flush()


@database_sync_to_async
def session_cookie(client, user):
    """A session of `user`'s own (as another browser would have): signing one client in as a
    second user would end the first one's session, and with it their socket."""
    from django.test import Client

    own = Client()
    own.force_login(user)
    return f"sessionid={own.cookies['sessionid'].value}".encode()


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
    page = await communicator.receive_json_from(timeout=WAIT)
    assert page["type"] == "page"
    return communicator, page


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
    assert (await communicator.receive_json_from(timeout=WAIT))["type"] == "page"  # still open
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
    assert "needs a reason" in reply["message"]
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

    # The other page shows the item: its row changes in place.
    pushed = await second.receive_json_from(timeout=WAIT)
    assert pushed["type"] == "updates"
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
    # Counted and named, not inserted: the page does not move under the officer.
    message = await communicator.receive_json_from(timeout=WAIT)
    assert message == {"type": "new", "keys": [f"insight:{wanted.pk}"]}
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
    assert pushed["type"] == "updates" and pushed["items"][0]["key"] == f"knowledge:{target.pk}"

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
    assert message == {"type": "new", "keys": [f"knowledge:{query.pk}"]}
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
    from audit.review import consumers

    reads = []
    real_keys = consumers._keys

    def counted(ids_by_kind, filters):
        reads.append(filters)
        return real_keys(ids_by_kind, filters)

    monkeypatch.setattr(consumers, "_keys", counted)
    pages = [(await subscribed(client, officer))[0] for _ in range(5)]
    narrow, _ = await subscribed(client, officer, insight_type="sentiment_alert")
    wanted = await insight(insight_type="compliance_flag")
    await live.announce_insights(get_channel_layer(), [wanted.pk])
    for page in pages:
        message = await page.receive_json_from(timeout=WAIT)
        assert message["keys"] == [f"insight:{wanted.pk}"]
    assert await narrow.receive_nothing(timeout=0.4)
    # One read for the five pages with the same filters, one for the narrow page.
    assert sorted(f.insight_type for f in reads if f is not None) == ["", "sentiment_alert"]
    for page in [*pages, narrow]:
        await page.disconnect()


async def test_a_process_joins_the_review_group_once_for_all_its_pages(client, officer):
    """One copy of each announcement per web process, not per page: the layer (Redis, in the
    scaled deployment) carries a hundred times less at a hundred pages. The member leaves
    with the last page."""
    layer = get_channel_layer()
    pages = [(await subscribed(client, officer))[0] for _ in range(4)]
    assert await group_size(layer, live.REVIEW_GROUP) == 1
    assert live.REVIEW_PAGES.subscribers() == 4
    wanted = await insight()
    await live.announce_insights(layer, [wanted.pk])
    for page in pages:
        message = await page.receive_json_from(timeout=WAIT)
        assert message["keys"] == [f"insight:{wanted.pk}"]
    await pages[0].disconnect()
    other = await insight()
    await live.announce_insights(layer, [other.pk])
    for page in pages[1:]:
        message = await page.receive_json_from(timeout=WAIT)
        assert message["keys"] == [f"insight:{other.pk}"]
    for page in pages[1:]:
        await page.disconnect()
    assert live.REVIEW_PAGES.subscribers() == 0
    assert await group_size(layer, live.REVIEW_GROUP) == 0


async def group_size(layer, group: str) -> int:
    """Members of a group, in the in-memory layer or (the scaled pass) in Redis."""
    if hasattr(layer, "groups"):
        return len(layer.groups.get(group, {}))
    connection = layer.connection(layer.consistent_hash(group))
    return await connection.zcard(layer._group_key(group))


async def test_a_page_that_fails_on_an_update_does_not_keep_it_from_the_others(
    client, officer, monkeypatch, caplog
):
    from audit.review import consumers

    first, _ = await subscribed(client, officer)
    second, _ = await subscribed(client, officer)
    real = consumers.ReviewConsumer.review_items
    calls = []

    async def fails_once(self, message):
        calls.append(self)
        if len(calls) == 1:
            raise RuntimeError("this page broke")
        await real(self, message)

    monkeypatch.setattr(consumers.ReviewConsumer, "review_items", fails_once)
    layer = get_channel_layer()
    broken, later = await insight(), await insight()
    await live.announce_insights(layer, [broken.pk])  # one page fails to take it
    await live.announce_insights(layer, [later.pk])
    seen = []
    for page in (first, second):
        keys: list[str] = []
        while f"insight:{later.pk}" not in keys:
            keys += (await page.receive_json_from(timeout=WAIT))["keys"]
        seen.append(keys)
    assert sorted(f"insight:{broken.pk}" in keys for keys in seen) == [False, True]
    assert "failed to take a live update" in caplog.text
    for page in (first, second):
        await page.disconnect()


async def test_a_page_that_closed_before_its_update_is_no_error(client, officer, caplog):
    from autobahn.exception import Disconnected

    from audit.review.consumers import ReviewConsumer

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


# The workspace: pages, decisions sent again, corrections, claims, bulk decisions.


async def test_the_page_says_how_many_match_and_pages_by_cursor(client, officer):
    stream = await database_sync_to_async(make_stream)()
    made = [await insight(stream=stream, confidence=n / 100) for n in range(60)]
    communicator, page = await subscribed(client, officer)
    assert (page["count"], page["position"], len(page["items"])) == (60, 0, 50)
    assert page["has_next"] and not page["has_prev"]
    await communicator.send_json_to(
        {"type": "subscribe", "filters": {}, "page": {"after": page["last"]}}
    )
    second = await communicator.receive_json_from(timeout=WAIT)
    assert [row["id"] for row in second["items"]] == [i.pk for i in made[50:]]
    assert second["position"] == 50 and not second["has_next"]
    await communicator.send_json_to({"type": "subscribe", "filters": {}, "page": {"last": True}})
    last = await communicator.receive_json_from(timeout=WAIT)
    assert [row["id"] for row in last["items"]] == [i.pk for i in made[10:]]
    await communicator.disconnect()


async def test_a_decision_sent_again_after_a_reconnect_is_applied_once(client, officer):
    target = await insight()
    decision = {"type": "decide", "id": target.pk, "decision": "approve", "decision_id": "d-1"}
    first, _ = await subscribed(client, officer)
    await first.send_json_to(decision)
    assert (await first.receive_json_from(timeout=WAIT))["resent"] is False
    await first.disconnect()
    again, _ = await subscribed(client, officer)  # the page reconnected and sent it again
    await again.send_json_to(decision)
    reply = await again.receive_json_from(timeout=WAIT)
    assert (reply["type"], reply["decision_id"], reply["resent"]) == ("decided", "d-1", True)
    count = database_sync_to_async(AuditEntry.objects.filter(action="insight.approve").count)
    assert await count() == 1
    await again.disconnect()


async def test_fix_and_approve_keeps_both_texts_and_sends_the_correction(client, officer):
    from streams.models import WebhookDelivery, WebhookEndpoint
    from streams.webhooks import outbox

    @database_sync_to_async
    def endpoint():
        hook = WebhookEndpoint(name="trainer", url="https://t.test/h", events=["insight.approved"])
        hook.set_secret(outbox.new_secret())
        hook.save()

    await endpoint()
    target = await insight(snippet="Offer the 30 day refund")
    communicator, _ = await subscribed(client, officer)
    await communicator.send_json_to(
        {
            "type": "decide",
            "id": target.pk,
            "decision": "approve",
            "corrected_text": "Offer the 14-day refund (policy KB-12)",
        }
    )
    reply = await communicator.receive_json_from(timeout=WAIT)
    row = reply["items"][0]
    assert (row["snippet"], row["corrected_text"]) == (
        "Offer the 30 day refund",
        "Offer the 14-day refund (policy KB-12)",
    )
    delivery = await WebhookDelivery.objects.aget(event_type="insight.approved")
    assert delivery.payload["data"]["corrected_text"] == "Offer the 14-day refund (policy KB-12)"
    assert delivery.payload["data"]["snippet"] == "Offer the 30 day refund"
    await communicator.disconnect()


async def test_claims_over_the_socket_and_a_claimed_row_changes_on_other_pages(
    client, officer, gov_admin
):
    targets = [await insight(confidence=n / 10) for n in range(3)]
    first, _ = await subscribed(client, officer)
    second, _ = await subscribed(client, gov_admin)
    await first.send_json_to({"type": "claim", "count": 2})
    claimed = await first.receive_json_from(timeout=WAIT)
    assert claimed["keys"] == [f"insight:{t.pk}" for t in targets[:2]]
    pushed = await second.receive_json_from(timeout=WAIT)
    assert pushed["type"] == "updates"
    assert {row["claimed_by"] for row in pushed["items"]} == {"olivia"}
    await second.send_json_to({"type": "decide", "id": targets[0].pk, "decision": "approve"})
    conflict = await second.receive_json_from(timeout=WAIT)
    assert conflict["type"] == "conflict" and "claimed by olivia" in conflict["message"]
    await first.send_json_to({"type": "subscribe", "filters": {"scope": "mine"}})
    mine = await first.receive_json_from(timeout=WAIT)
    assert [row["key"] for row in mine["items"]] == claimed["keys"]
    await first.disconnect()
    await second.disconnect()


async def test_an_auditor_claims_and_assigns_nothing(client, auditor, officer):
    await insight()
    communicator, page = await subscribed(client, auditor)
    assert page["can_assign"] is False
    await communicator.send_json_to({"type": "claim"})
    assert (
        "cannot claim or decide" in (await communicator.receive_json_from(timeout=WAIT))["message"]
    )
    await communicator.send_json_to({"type": "assign", "to": officer.pk, "count": 1})
    assert "cannot assign" in (await communicator.receive_json_from(timeout=WAIT))["message"]
    await communicator.disconnect()


async def test_a_bulk_reject_of_all_matching_decides_each_with_its_own_entry(
    client, officer, gov_admin, monkeypatch
):

    stream = await database_sync_to_async(make_stream)()
    for n in range(7):
        await insight(stream=stream, confidence=n / 10, insight_type="compliance_flag")
    other = await insight(stream=stream, insight_type="sentiment_alert")
    held = await insight(stream=stream, confidence=0.01, insight_type="compliance_flag")

    @database_sync_to_async
    def hold():
        from audit.review.claims import items_assign

        items_assign(by=gov_admin, to=gov_admin, keys=[f"insight:{held.pk}"])

    await hold()
    monkeypatch.setattr(services, "BULK_PAGE", 3)  # three transactions of 3, 3 and 2
    communicator, _ = await subscribed(client, officer, insight_type="compliance_flag")
    await communicator.send_json_to(
        {
            "type": "bulk",
            "bulk_id": "b-1",
            "decision": "reject",
            "reason_code": "inaccurate",
            "all_matching": True,
        }
    )
    messages = []
    while not messages or messages[-1]["type"] != "bulk_done":
        messages.append(await communicator.receive_json_from(timeout=WAIT))
    done = messages[-1]
    assert (done["total"], done["decided"], done["skipped"]) == (8, 7, 1)
    assert "claimed by adam" in done["skipped_reasons"][0]
    progress = [m["decided"] + m["skipped"] for m in messages if m["type"] == "bulk_progress"]
    assert progress == [3, 6, 8]
    count = database_sync_to_async(AuditEntry.objects.filter(action="insight.reject").count)
    assert await count() == 7
    assert (await reload(other.pk)).review_status == "pending"
    assert (await reload(held.pk)).review_status == "pending"
    await communicator.disconnect()


async def test_identical_items_are_grouped_and_decided_together(client, officer):
    stream = await database_sync_to_async(make_stream)()
    for _ in range(4):
        await insight(
            stream=stream, snippet="Card number read aloud", insight_type="compliance_flag"
        )
    for _ in range(2):
        await insight(stream=stream, snippet="Greeting missing", insight_type="compliance_flag")
    single = await insight(stream=stream, snippet="Only once")
    communicator, page = await subscribed(client, officer, scope="groups")
    assert [(row["snippet"], row["count"]) for row in page["items"]] == [
        ("Card number read aloud", 4),
        ("Greeting missing", 2),
    ]
    group = page["items"][0]["group"]
    await communicator.send_json_to(
        {"type": "bulk", "bulk_id": "g-1", "decision": "approve", "group": group}
    )
    done = None
    while done is None or done["type"] != "bulk_done":
        done = await communicator.receive_json_from(timeout=WAIT)
    assert (done["total"], done["decided"]) == (4, 4)
    approved = database_sync_to_async(
        Insight.objects.filter(snippet="Card number read aloud", review_status="approved").count
    )
    assert await approved() == 4
    assert (await reload(single.pk)).review_status == "pending"
    await communicator.disconnect()


async def test_a_page_that_flushes_late_still_shares_the_read_of_the_tick_its_ids_arrived_in():
    """Reads are shared by the tick the process received the ids in, not by when a page
    gets round to asking: a late page asks the same question as the others."""
    from audit.review.consumers import SharedUpdates

    reads = []

    def read(ids_by_kind, filters):
        reads.append(ids_by_kind)
        return [f"insight:{pk}" for pk in sorted(ids_by_kind["insight"])]

    shared = SharedUpdates()
    ids = {"insight": {1, 2}}
    assert await shared.rows(10, ids, None, read=read) == ["insight:1", "insight:2"]
    await shared.rows(11, {"insight": {3}}, None, read=read)  # the clock moves on
    assert await shared.rows(10, ids, None, read=read) == ["insight:1", "insight:2"]
    assert len(reads) == 2
    await shared.rows(10 + SharedUpdates.KEEP_TICKS + 1, {"insight": {4}}, None, read=read)
    await shared.rows(10, ids, None, read=read)  # long gone: read again
    assert len(reads) == 4


async def test_a_page_that_cannot_join_live_updates_gets_a_reason_and_leaves_no_trace(
    monkeypatch,
):
    """The layer refuses (Redis down): the join fails with what to look at, within its bound,
    and the process holds no half-joined member."""

    class Refusing:
        async def new_channel(self):
            return "refused!1"

        async def group_add(self, group, channel):
            raise ConnectionError("Redis is not answering")

        async def group_discard(self, group, channel):
            raise ConnectionError("Redis is not answering")

    monkeypatch.setattr(live, "JOIN_TIMEOUT_SECONDS", 0.3)
    pages = live.ProcessGroup("review-test")
    with pytest.raises(live.LiveUpdatesUnavailable, match="is Redis answering"):
        await pages.join(Refusing(), object())
    assert pages.subscribers() == 0


async def test_without_live_updates_the_socket_closes_for_the_page_to_try_again(
    client, officer, monkeypatch
):
    async def unavailable(layer, subscriber):
        raise live.LiveUpdatesUnavailable("the channel layer did not answer")

    monkeypatch.setattr(live.REVIEW_PAGES, "join", unavailable)
    _, connected, code = await open_socket(client, officer)
    assert (connected, code) == (False, 1013)  # not 4403: the page reconnects
