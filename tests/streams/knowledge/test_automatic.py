"""Automatic knowledge queries: new insights of chosen types are searched with their text,
and the answers an agent receives join the review queue."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from streams.knowledge.automatic import AutomaticQueries, insight_query_text
from streams.knowledge.search import FILTERED_RULE, knowledge_search, review_fields
from streams.knowledge.specs import knowledge_spec
from streams.models import KnowledgeQuery
from streams.worker.process import StreamWorkerProcess
from tests.factories import make_connection, make_insight, make_knowledge_stream
from tests.simulator import eventually, stopped, stream_on, subscribed

pytestmark = pytest.mark.django_db(transaction=True)

# Every result passes (threshold 0, no freshness limit to speak of), or none does.
PASSING = {"confidence_threshold": 0.0, "freshness_days": 36500}
NONE_PASSING = {"confidence_threshold": 1.0}


@sync_to_async
def knowledge_stream_on(url, **fields):
    return make_knowledge_stream(connection=make_connection(url=url), **fields)


@sync_to_async
def queries(**filters):
    return list(KnowledgeQuery.objects.filter(**filters).order_by("pk"))


def content(text):
    return {"type": "agentassist.insight", "content": {"text": text}}


@pytest.mark.parametrize(
    ("origin", "governance", "expected"),
    [
        ("api", "PASS", "pending"),
        ("insight", "PASS", "pending"),
        ("api", "FILTERED", "filtered"),
        ("insight", "FILTERED", "filtered"),
        ("console", "PASS", None),
        ("warming", "PASS", None),
        ("api", "", None),  # no answer: nothing reached the agent
    ],
)
def test_what_an_agent_received_is_for_review(origin, governance, expected):
    fields = review_fields(origin, governance)
    assert fields.get("review_status") == expected
    if expected == "filtered":
        assert fields["review_rule"] == FILTERED_RULE and fields["reviewed_at"]


def test_the_query_text_is_the_insight_content_cut_to_the_query_limit(db):
    long_text = "refund " * 200
    insight = make_insight(snippet="short snippet", payload=content(long_text))
    text = insight_query_text(insight)
    assert len(text) == 500 and text.startswith("refund refund") and text.endswith("…")
    assert insight_query_text(make_insight(snippet="the snippet", payload={})) == "the snippet"


async def test_an_api_answer_is_pending_review_with_its_best_confidence(knowledge_sim):
    _, url = knowledge_sim
    spec = await sync_to_async(knowledge_spec)(await knowledge_stream_on(url, **PASSING))
    query = await knowledge_search(
        spec=spec,
        text="refund window unopened item",
        conversation_id="conv-1",
        origin="api",
        requested_by="api token desk",
    )
    assert query.review_status == "pending"
    passed = query.passed_results()
    assert passed and query.top_confidence == max(r["confidence"] for r in passed)


async def test_a_filtered_answer_is_recorded_as_filtered_by_the_rules(knowledge_sim):
    _, url = knowledge_sim
    spec = await sync_to_async(knowledge_spec)(await knowledge_stream_on(url, **NONE_PASSING))
    query = await knowledge_search(
        spec=spec, text="refund window", conversation_id="c", origin="api", requested_by="desk"
    )
    assert (query.governance_status, query.review_status) == ("FILTERED", "filtered")
    assert query.review_rule == FILTERED_RULE
    # The best of the filtered results, so the queue can still order it.
    assert query.top_confidence == max(r["confidence"] for r in query.results)


async def test_insights_of_the_chosen_types_are_searched_with_their_text(knowledge_sim):
    simulator, url = knowledge_sim
    stream = await knowledge_stream_on(url, auto_query_types=["compliance_flag"], **PASSING)
    await knowledge_stream_on(url, name="not-automatic", **PASSING)
    wanted = await sync_to_async(make_insight)(
        insight_type="compliance_flag",
        interaction_id="conv-77",
        payload=content("Read the refund   disclosure\nbefore closing"),
    )
    other_type = await sync_to_async(make_insight)(insight_type="sentiment_alert")
    filtered = await sync_to_async(make_insight)(
        insight_type="compliance_flag", review_status="filtered"
    )
    queue = AutomaticQueries(worker="test")
    started = await queue.dispatch([wanted.pk, other_type.pk, filtered.pk])
    assert started == 1
    await asyncio.gather(*queue.tasks)

    (query,) = await queries()
    assert query.stream_id == stream.pk and query.insight_id == wanted.pk
    assert query.origin == "insight" and query.conversation_id == "conv-77"
    assert query.query_text == "Read the refund disclosure before closing"
    assert query.requested_by == f"Automatic search for insight {wanted.pk} (Compliance flag)"
    assert query.review_status == "pending"
    assert simulator.knowledge.queries[-1]["queryText"] == query.query_text


async def test_an_insight_without_searchable_text_is_skipped_not_failed(knowledge_sim, caplog):
    _, url = knowledge_sim
    await knowledge_stream_on(url, auto_query_types=["compliance_flag"], **PASSING)
    empty = await sync_to_async(make_insight)(
        insight_type="compliance_flag", snippet="", payload=content(" ")
    )
    queue = AutomaticQueries(worker="test")
    assert await queue.dispatch([empty.pk]) == 1
    await asyncio.gather(*queue.tasks)
    assert await queries() == []
    assert f"insight {empty.pk} not searched" in caplog.text


def test_insights_beyond_the_backlog_are_skipped_with_a_warning(settings, caplog):
    settings.KNOWLEDGE_AUTO_BACKLOG = 3
    queue = AutomaticQueries(worker="test")
    queue.offer([1, 2])
    queue.offer([3, 4])  # would make 4 waiting
    queue.offer([5])
    assert queue.waiting == 3 and queue.skipped == 2
    assert queue.queue.qsize() == 2
    assert "2 skipped so far" in caplog.text


async def test_the_worker_searches_new_insights_and_the_answer_reaches_review(knowledge_sim):
    """End to end: the simulator sends an insight, the worker stores it, searches its text
    on the knowledge stream that asked for its type, and the answer waits for review."""
    simulator, url = knowledge_sim
    await get_channel_layer().flush()
    stream = await stream_on(url, insight_types=["knowledge_recommendation"])
    await knowledge_stream_on(url, auto_query_types=["knowledge_recommendation"], **PASSING)
    worker = StreamWorkerProcess(worker_id="auto", reconcile_seconds=60, lease_seconds=600)
    task = asyncio.create_task(worker.run())
    try:
        await subscribed(simulator)
        simulator.emit(3, {"insight_type": "knowledge_recommendation"})

        async def answered():
            return len(await queries(origin="insight")) == 3

        await eventually(answered, within=15, what="3 automatic knowledge queries")
    finally:
        worker.stop()
        await stopped(task)
    rows = await queries(origin="insight")
    insights = await sync_to_async(lambda: {i.pk: i for i in stream.insights.all()})()
    assert {q.insight_id for q in rows} == set(insights)
    for query in rows:
        insight = insights[query.insight_id]
        assert query.conversation_id == insight.interaction_id
        assert query.query_text == insight_query_text(insight)
        assert query.review_status == "pending"
