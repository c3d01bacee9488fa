"""Conversation summaries and predicted wrap-up codes, through the stream worker: from the
followed agents' summaries topic and from REST for conversations followed through queues,
each stored once as an insight of type summary; sent to webhooks as summary.*; shown to the
officer with its wrap-up codes; an officer's corrected summary sent back to Genesys."""

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from audit.review.services import item_approve
from audit.review.workspace import item_context
from streams.models import GenesysConnection, GenesysFeedback, Insight, WebhookEndpoint
from streams.simulator.conversations import queue_ids
from tests.factories import make_connection, make_matrix, make_stream
from tests.simulator import eventually
from tests.streams.webhooks.test_genesys_feedback import send_due
from tests.streams.worker.test_following import sim, workers  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def worker(workers):  # noqa: F811
    start, _ = workers
    return start("test-worker")


@database_sync_to_async
def summarising_stream(url, simulator):
    WebhookEndpoint.objects.create(
        name="trainer",
        url="https://trainer.example.com/hook",
        events=["summary.created", "insight.created"],
    )
    connection = make_connection(url=url, flavour=GenesysConnection.Flavour.NOTIFICATIONS)
    return make_stream(
        connection=connection,
        matrix=make_matrix(),
        queue_ids=queue_ids(2),
        user_ids=[simulator.life.agents[0]],  # one agent's summaries also come live
        send_verdicts=True,
        enabled=True,
    )


@database_sync_to_async
def summaries(stream) -> list[Insight]:
    return list(Insight.objects.filter(stream=stream, insight_type="summary").order_by("pk"))


async def test_each_summary_is_stored_once_with_its_wrap_up_codes(sim, worker):  # noqa: F811
    simulator, url = sim
    stream = await summarising_stream(url, simulator)
    worker.supervisor.nudge()
    await eventually(lambda: simulator.notifications.sockets, what="a channel socket")
    simulator.emit(60)
    ended = simulator.notifications.summaries

    async def all_summaries():
        return {i.interaction_id for i in await summaries(stream)} == set(ended)

    await eventually(all_summaries, what=f"{len(ended)} summaries")
    rows = await summaries(stream)
    assert len(rows) == len(ended)  # live and from REST: stored once
    row = rows[0]
    event = ended[row.interaction_id].summary_event()
    assert row.external_id == event["summaryId"]
    assert row.confidence == event["summary"]["score"]
    assert row.payload["wrapUpCodes"][0]["name"] == event["wrapUpCodes"][0]["name"]
    assert row.snippet[:40] == event["summary"]["text"][:40]

    @database_sync_to_async
    def deliveries():
        from streams.models import WebhookDelivery
        from streams.webhooks.outbox import expand_batches

        expand_batches(limit=1000)  # what the dispatcher does with ingestion's outbox rows
        return list(WebhookDelivery.objects.values_list("event_type", "payload"))

    sent = await deliveries()
    summary_events = [p for kind, p in sent if kind == "summary.created"]
    assert len(summary_events) == len(rows)
    assert summary_events[0]["data"]["summary"]["wrapUpCodes"]
    assert all(p["data"]["insight_type"] != "summary" for k, p in sent if k == "insight.created")

    context = await database_sync_to_async(item_context)("insight", row.pk)
    details = {d["label"]: d["value"] for d in context["details"]}
    first = event["wrapUpCodes"][0]
    assert f"{first['name']} ({first['score']:.2f})" in details["Predicted wrap-up codes"]
    assert details["Summary"] == event["summary"]["text"]


async def test_an_officer_s_corrected_summary_goes_back_to_genesys(sim, worker):  # noqa: F811
    simulator, url = sim
    stream = await summarising_stream(url, simulator)
    worker.supervisor.nudge()
    await eventually(lambda: simulator.notifications.sockets, what="a channel socket")
    simulator.emit(30)
    await eventually(lambda: summaries(stream), what="a summary")

    @database_sync_to_async
    def correct_and_approve():
        officer = get_user_model().objects.create_user(username="olivia", password="pw")
        row = Insight.objects.filter(stream=stream, insight_type="summary").first()
        fixed = row.original_text + " The customer also asked to be called back on Friday."
        item_approve(item=row, by=officer, corrected_text=fixed)
        return row, fixed, GenesysFeedback.objects.get(insight=row)

    row, fixed, feedback = await correct_and_approve()
    assert feedback.kind == GenesysFeedback.Kind.SUMMARY
    assert feedback.path == (
        f"/api/v2/conversations/{row.interaction_id}/summaries/{row.external_id}/feedback"
    )
    await send_due()
    [received] = simulator.notifications.summary_feedback
    assert received["rating"] == "Positive" and received["summary"] == fixed
