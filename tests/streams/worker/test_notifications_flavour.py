"""Real Genesys Cloud's notifications flavour through the stream worker and the knowledge
service, against the simulator: the same models, review flow and guarantees as the seed
flavour."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError

from audit.trail.models import AuditEntry
from streams.knowledge.search import KnowledgeError, knowledge_search
from streams.knowledge.specs import knowledge_spec
from streams.models import GenesysConnection, Insight, StreamConfig
from streams.simulator.notifications import suggestion_id, suggestion_kind
from streams.worker.process import StreamWorkerProcess
from streams.worker.specs import stream_spec
from tests.factories import make_connection, make_knowledge_stream, make_matrix, make_stream
from tests.simulator import eventually, start_simulator, stopped, stream_status, subscribed

pytestmark = pytest.mark.django_db(transaction=True)

# Suggestions Genesys lists (intents are not), for what only a back-fill can bring.
LISTED = {"insight_type": "knowledge_recommendation"}


@pytest.fixture
async def sim():
    await get_channel_layer().flush()
    simulator, url = await start_simulator(interactions=4, heartbeat_seconds=0.2)
    yield simulator, url
    await simulator.stop()


@pytest.fixture
async def worker(settings):
    settings.STREAMS_HEARTBEAT_TIMEOUT_SECONDS = 2.0
    process = StreamWorkerProcess(worker_id="test-worker", reconcile_seconds=60, lease_seconds=600)
    task = asyncio.create_task(process.run())
    yield process
    process.stop()
    await stopped(task)


@database_sync_to_async
def notifications_stream(url, conversations, **fields):
    connection = make_connection(url=url, flavour=GenesysConnection.Flavour.NOTIFICATIONS)
    return make_stream(
        connection=connection,
        matrix=fields.pop("matrix", None) or make_matrix(),
        interaction_ids=list(conversations),
        enabled=True,
        **fields,
    )


@database_sync_to_async
def insights(stream) -> list[Insight]:
    return list(Insight.objects.filter(stream=stream).order_by("pk"))


async def all_stored(stream, simulator, within=20):
    expected = {suggestion_id(event["id"]) for event in simulator.events}

    async def done():
        return {i.external_id for i in await insights(stream)} == expected

    await eventually(done, within=within, what=f"{len(expected)} stored suggestions")


async def connected(stream, simulator):
    await eventually(
        lambda: _status_is(stream, "connected"), what="the stream connected", within=10
    )
    await eventually(lambda: simulator.notifications.sockets, what="a channel socket")


async def _status_is(stream, state):
    return (await stream_status(stream)).state == state


async def test_suggestions_become_insights_once_each_across_a_drop(sim, worker):
    simulator, url = sim
    stream = await notifications_stream(url, simulator.generator.interactions)
    worker.supervisor.nudge()
    await connected(stream, simulator)

    simulator.emit(60)
    await all_stored(stream, simulator)
    simulator.inject({"action": "drop"})
    simulator.emit(40, LISTED)  # while no socket is there: only the back-fill can bring these
    await all_stored(stream, simulator)

    rows = await insights(stream)
    assert len(rows) == 100  # the back-fill's overlap was deduplicated by suggestionId
    by_id = {event["id"]: event for event in simulator.events}
    for row in rows:
        event = next(e for e in by_id.values() if suggestion_id(e["id"]) == row.external_id)
        kind = suggestion_kind(event)
        assert row.insight_type == kind
        assert row.interaction_id == event["interaction_id"]
        if kind in ("knowledge.search", "intent"):
            assert row.confidence == event["confidence"]
        else:
            assert row.confidence is None and row.relevance_score is None
        assert row.snippet and row.review_status == "pending"
    status = await stream_status(stream)
    assert status.duplicates > 0 and status.reconnects >= 1 and status.quarantined == 0


async def test_insights_without_a_confidence_follow_the_matrix_rule(sim, worker):
    simulator, url = sim

    @database_sync_to_async
    def filtering_matrix():
        matrix = make_matrix()
        matrix.no_confidence = "auto-filter"
        matrix.save()
        return matrix

    stream = await notifications_stream(
        url, simulator.generator.interactions, matrix=await filtering_matrix()
    )
    worker.supervisor.nudge()
    await connected(stream, simulator)
    simulator.emit(30)
    await all_stored(stream, simulator)
    rows = await insights(stream)
    unscored = [r for r in rows if r.confidence is None]
    assert unscored and all(r.review_status == "filtered" for r in unscored)
    assert all("no confidence: auto-filter" in r.review_rule for r in unscored)
    assert all(r.review_status == "pending" for r in rows if r.confidence is not None)


async def test_conversations_added_while_running_need_no_reconnect(sim, worker):
    simulator, url = sim
    first, second, *_ = simulator.generator.interactions
    stream = await notifications_stream(url, [first])
    worker.supervisor.nudge()
    await connected(stream, simulator)
    simulator.emit(5, {"interaction_id": second, **LISTED})  # before it is subscribed

    @database_sync_to_async
    def add_conversation():
        obj = StreamConfig.objects.get(pk=stream.pk)
        obj.interaction_ids = [first, second]
        obj.save()

    await add_conversation()
    worker.supervisor.nudge()
    await eventually(
        lambda: simulator.notifications.subscription_calls[-1][0] == "POST", what="a POST"
    )
    simulator.emit(5, {"interaction_id": second})
    await all_stored(stream, simulator)  # the 5 before it was added came by back-fill
    assert simulator.counters["notifications_sockets"] == 1
    assert (await stream_status(stream)).reconnects == 0


async def test_switching_a_connection_to_notifications_keeps_insights_flowing(sim, worker):
    simulator, url = sim

    @database_sync_to_async
    def seed_stream():
        return make_stream(
            connection=make_connection(url=url),
            interaction_ids=list(simulator.generator.interactions),
            enabled=True,
        )

    @database_sync_to_async
    def switch(stream):
        connection = GenesysConnection.objects.get(pk=stream.connection_id)
        connection.flavour = GenesysConnection.Flavour.NOTIFICATIONS
        connection.save()

    stream = await seed_stream()
    worker.supervisor.nudge()
    await subscribed(simulator)  # a stream with no resume point receives from its subscription on
    simulator.emit(10)
    await eventually(lambda: _count(stream, 10), what="10 seed insights")
    await switch(stream)
    worker.supervisor.nudge()
    await eventually(lambda: simulator.notifications.sockets, what="a notifications socket")
    simulator.emit(10, LISTED)  # a back-fill brings any the new socket was not there for
    await eventually(lambda: _count(stream, 20), what="10 more, as suggestions")
    rows = await insights(stream)
    assert {r.insight_type for r in rows[10:]} <= {
        "knowledge.search",
        "knowledge.article",
        "intent",
        "response",
        "script",
        "thirdpartyaction",
    }


async def _count(stream, n):
    return len(await insights(stream)) == n


@pytest.mark.django_db
def test_a_notifications_stream_needs_conversations_and_suggestion_kinds():
    connection = make_connection(flavour=GenesysConnection.Flavour.NOTIFICATIONS)
    stream = StreamConfig(
        name="s", connection=connection, confidence_matrix=make_matrix(), insight_types=["x"]
    )
    with pytest.raises(ValidationError) as refused:
        stream.full_clean()
    assert "name queues or agents to follow" in str(refused.value)
    assert "x: not a suggestion kind" in str(refused.value)
    # Configured before the connection changed flavour: the stream shows why it cannot run.
    stream.insight_types = []
    stream.save()
    assert "name queues or agents to follow" in stream_spec(stream).problem


# Knowledge search over REST


@sync_to_async
def rest_spec(url, **fields):
    connection = make_connection(url=url, flavour=GenesysConnection.Flavour.NOTIFICATIONS)
    fields.setdefault("sources", (("kb-1", 2), ("kb-2", 1)))
    return knowledge_spec(make_knowledge_stream(connection=connection, **fields))


async def test_rest_knowledge_search_is_validated_ranked_cached_and_audited(knowledge_sim):
    simulator, url = knowledge_sim
    spec = await rest_spec(url, confidence_threshold=0.5, freshness_days=90, max_results=10)
    how = {"conversation_id": "conv-1", "origin": "api", "requested_by": "agent-7"}
    query = await knowledge_search(spec=spec, text="refund window unopened item", **how)

    assert simulator.counters["knowledge_rest_searches"] == 2  # one search per source
    assert query.status == "answered" and query.results_returned == 20
    passed = [r for r in query.results if r["outcome"] == "passed"]
    keys = [({"kb-2": 1, "kb-1": 2}[r["knowledge_base_id"]], -r["confidence"]) for r in passed]
    assert passed and keys == sorted(keys)  # by priority, then confidence
    outcomes = {r["outcome"] for r in query.results}
    assert "stale" in outcomes  # freshness read from document.dateModified
    stale = next(r for r in query.results if r["outcome"] == "stale")
    assert "days ago; the limit is 90 days" in stale["reason"]
    assert all(r["snippet"] and r["url"].startswith("https://") for r in passed)
    assert query.review_status == "pending"  # an answer an agent received joins the queue

    again = await knowledge_search(spec=spec, text="Refund  window unopened ITEM", **how)
    assert again.cache_hit and simulator.counters["knowledge_rest_searches"] == 2
    entries = await sync_to_async(AuditEntry.objects.filter(action="knowledge.query").count)()
    assert entries == 2


async def test_rest_knowledge_search_of_an_unknown_base_is_refused_and_recorded(knowledge_sim):
    _, url = knowledge_sim
    spec = await rest_spec(url, sources=(("kb-1", 1), ("kb-404", 2)))
    with pytest.raises(KnowledgeError) as refused:
        await knowledge_search(
            spec=spec, text="refund", conversation_id="c", origin="console", requested_by="o"
        )
    assert refused.value.status == 502 and refused.value.code == "unknown_knowledge_base"
    assert "knowledge base kb-404 was not found" in str(refused.value)


def _words(event) -> str:
    return event["content"]["text"]


# What an officer reads for each kind, from the simulated event's words (SDK shapes: ids only
# for responses and scripts, resolved through their endpoints).
EXPECTED_TEXT = {
    "knowledge.search": lambda e: _words(e),
    "knowledge.article": lambda e: _words(e),
    "intent": lambda e: f"topic: {_words(e)}",
    "thirdpartyaction": lambda e: f"{_words(e)} — sources: Compliance handbook",
    "response": lambda e: _words(e),
    "script": lambda e: f"{_words(e)} — page Verification",
}


@pytest.mark.parametrize("kind", sorted(EXPECTED_TEXT))
async def test_every_suggestion_kind_is_stored_with_its_text(sim, worker, kind):
    simulator, url = sim
    stream = await notifications_stream(url, simulator.generator.interactions)
    worker.supervisor.nudge()
    await connected(stream, simulator)
    for insight_type in ("knowledge_recommendation", "sentiment_alert", "compliance_flag"):
        simulator.emit(20, {"insight_type": insight_type})
    await all_stored(stream, simulator)
    run = simulator.config.run_id
    events = {
        suggestion_id(e["id"]): e for e in simulator.events if suggestion_kind(e, run) == kind
    }
    stored = [i for i in await insights(stream) if i.external_id in events]
    assert stored and all(i.insight_type == kind for i in stored)
    for insight in stored:
        expected = EXPECTED_TEXT[kind](events[insight.external_id])
        assert expected[:120] in insight.snippet, (kind, insight.snippet)
    if kind in ("response", "script"):
        # Resolved once per id: the same words are the same response or script.
        distinct = {_words(events[i.external_id]) for i in stored}
        counter = "responses_read" if kind == "response" else "scripts_read"
        assert simulator.counters[counter] == len(distinct)
