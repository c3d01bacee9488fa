"""Officers' verdicts back to Genesys (opt-in per stream): queued with the decision, sent by
the stream worker as the suggestion's feedback, retried as Genesys asks, audited, and the
echo on the topic not taken for a new insight."""

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.review.services import item_approve, item_reject
from audit.trail.models import AuditEntry
from streams.genesys.auth import TokenPool
from streams.ingest.records import read_notification
from streams.models import GenesysConnection, GenesysFeedback, Insight
from streams.simulator.notifications import Library, suggestion_event, suggestion_id
from streams.webhooks.genesys import claim_due, record_outcome, send
from tests.factories import make_connection, make_insight, make_matrix, make_stream
from tests.simulator import eventually, start_simulator, stream_status
from tests.streams.worker.test_notifications_flavour import connected, insights, worker  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def verdict_stream(url="http://127.0.0.1:9", *, send_verdicts=True, **fields):
    connection = make_connection(url=url, flavour=GenesysConnection.Flavour.NOTIFICATIONS)
    return make_stream(
        connection=connection,
        matrix=make_matrix(),
        interaction_ids=fields.pop("interaction_ids", ["conv-1"]),
        send_verdicts=send_verdicts,
        **fields,
    )


def test_a_verdict_is_queued_only_for_a_stream_that_sends_them(officer):
    sending, silent = verdict_stream(), verdict_stream(send_verdicts=False)
    approved = make_insight(stream=sending, review_status="pending", external_id="sug-1")
    rejected = make_insight(stream=sending, review_status="pending", external_id="sug-2")
    other = make_insight(stream=silent, review_status="pending", external_id="sug-3")
    item_approve(item=approved, by=officer)
    item_reject(item=rejected, by=officer, reason_code="inaccurate")
    item_approve(item=other, by=officer)
    rows = {row.suggestion_id: row for row in GenesysFeedback.objects.all()}
    assert set(rows) == {"sug-1", "sug-2"}
    assert (rows["sug-1"].rating, rows["sug-2"].rating) == ("Positive", "Negative")
    assert rows["sug-1"].path == (
        "/api/v2/conversations/interaction-12345/suggestions/sug-1/engagement"
    )
    assert rows["sug-1"].body() == {
        "engagementType": "Feedback",
        "feedback": {"rating": "Positive"},
    }
    assert rows["sug-1"].decided_by == "olivia"


def test_only_a_genesys_stream_may_send_verdicts():
    stream = make_stream(connection=make_connection(), matrix=make_matrix())
    stream.send_verdicts = True
    with pytest.raises(ValidationError, match="notifications flavour"):
        stream.full_clean()


def test_the_echo_of_an_engagement_is_not_a_new_insight():
    event = {
        "id": "evt-000000001",
        "interaction_id": "conv-1",
        "insight_type": "knowledge_recommendation",
        "confidence": 0.9,
        "content": {"text": "Offer the refund"},
        "timestamp": "2026-11-30T10:00:00.000Z",
    }
    topic, body = suggestion_event(event, Library())
    assert read_notification({"topicName": topic, "eventBody": body}) is not None
    # The SDK's events carry the key on every suggestion: null is not an engagement.
    unengaged = {**body, "engagementType": None}
    assert read_notification({"topicName": topic, "eventBody": unengaged}) is not None
    echo = {
        **body,
        "state": "Rated",
        "engagementType": "Feedback",
        "feedback": {"rating": "Positive"},
    }
    assert read_notification({"topicName": topic, "eventBody": echo}) is None


@pytest.fixture
async def sim():
    simulator, url = await start_simulator(interactions=2, heartbeat_seconds=0.2)
    yield simulator, url
    await simulator.stop()


async def send_due(worker_id="test-worker"):
    """One pass of the sender: claim what is due, send it, record the outcome."""
    import httpx

    claimed = await database_sync_to_async(claim_due)(worker_id, 10, 30.0)
    async with httpx.AsyncClient() as http:
        for item in claimed:
            outcome = await send(http, item, TokenPool())
            await database_sync_to_async(record_outcome)(item.id, outcome, worker_id)
    return claimed


@database_sync_to_async
def decided_suggestion(url, simulator, officer_name="olivia"):
    from django.contrib.auth import get_user_model

    officer = get_user_model().objects.create_user(username=officer_name, password="pw")
    event = simulator.events[0]
    stream = verdict_stream(url, interaction_ids=[event["interaction_id"]])
    insight = make_insight(
        stream=stream,
        external_id=suggestion_id(event["id"]),
        interaction_id=event["interaction_id"],
        review_status="pending",
    )
    item_reject(item=insight, by=officer, reason_code="inaccurate")
    return GenesysFeedback.objects.get()


async def test_a_verdict_is_sent_as_the_suggestions_feedback_and_audited(sim):
    simulator, url = sim
    simulator.emit(1)
    feedback = await decided_suggestion(url, simulator)
    assert len(await send_due()) == 1
    [received] = simulator.notifications.engagements
    assert received == {
        "suggestionId": feedback.suggestion_id,
        "body": {"engagementType": "Feedback", "feedback": {"rating": "Negative"}},
    }
    row = await database_sync_to_async(GenesysFeedback.objects.get)()
    assert (row.status, row.attempts, row.last_status_code) == ("sent", 1, 200)
    entry = await database_sync_to_async(AuditEntry.objects.get)(action="genesys_feedback.send")
    assert entry.after["rating"] == "Negative" and entry.after["decided_by"] == "olivia"
    assert await send_due() == []  # sent once


async def test_a_refusal_waits_as_genesys_asks_and_a_missing_permission_gives_up(sim):
    simulator, url = sim
    simulator.emit(1)
    await decided_suggestion(url, simulator)
    simulator.inject({"action": "engagement", "status": 503})
    before = timezone.now()
    await send_due()
    row = await database_sync_to_async(GenesysFeedback.objects.get)()
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at > before
    await database_sync_to_async(GenesysFeedback.objects.update)(next_attempt_at=before)
    simulator.inject({"action": "engagement", "status": 403})
    await send_due()
    row = await database_sync_to_async(GenesysFeedback.objects.get)()
    assert row.status == "failed"
    assert "conversation:suggestionEngagement:add" in row.last_error
    failed = await database_sync_to_async(AuditEntry.objects.get)(action="genesys_feedback.fail")
    assert failed.after["status_code"] == 403
    assert simulator.notifications.engagements == []


async def test_through_the_worker_the_echo_is_recognised_not_stored(sim, worker):  # noqa: F811
    simulator, url = sim

    @database_sync_to_async
    def streaming():
        return verdict_stream(
            url, interaction_ids=list(simulator.generator.interactions), enabled=True
        )

    stream = await streaming()
    worker.supervisor.nudge()
    await connected(stream, simulator)
    simulator.emit(3)
    await eventually(lambda: _count(stream, 3), what="3 suggestions stored")

    @database_sync_to_async
    def approve_first():
        from django.contrib.auth import get_user_model

        officer = get_user_model().objects.create_user(username="olivia", password="pw")
        item_approve(item=Insight.objects.filter(stream=stream).first(), by=officer)

    await approve_first()
    await eventually(lambda: simulator.notifications.engagements, what="the feedback sent")
    simulator.emit(1)  # something after the echo, so the echo has been read before it
    await eventually(lambda: _count(stream, 4), what="the next suggestion stored")
    assert len(await insights(stream)) == 4
    status = await stream_status(stream)
    assert status.duplicates == 0  # the echo was not taken for the suggestion again


async def _count(stream, n):
    return len(await insights(stream)) >= n


def test_a_ruling_that_overturns_a_decision_sends_the_new_verdict(officer, gov_admin):
    from django.contrib.auth.models import Group

    from audit.oversight import second_review
    from audit.oversight.models import OversightSettings

    second = type(officer).objects.create_user(username="oona", password="pw")
    second.groups.add(Group.objects.get(name="Compliance officers"))
    OversightSettings.objects.update_or_create(pk=1, defaults={"approval_share": 100.0})
    insight = make_insight(stream=verdict_stream(), review_status="pending", external_id="s-9")
    item_approve(item=insight, by=officer)
    review = second_review.next_for(second)
    second_review.second_review_decide(
        review=review, by=second, decision="reject", reason_code="inaccurate"
    )
    review.refresh_from_db()
    second_review.adjudicate(
        review=review, by=gov_admin, ruling="rejected", reason_code="inaccurate", note="wrong"
    )
    ratings = list(GenesysFeedback.objects.order_by("pk").values_list("rating", "decided_by"))
    assert ratings == [("Positive", "olivia"), ("Negative", "adam")]
