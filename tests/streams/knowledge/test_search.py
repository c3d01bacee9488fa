"""Knowledge queries end to end against the simulator: validation, ranking, the record and
its audit entry, the cache, warming, failures, webhooks and the figures."""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache

from audit.trail.models import AuditEntry
from streams.knowledge.figures import knowledge_metrics
from streams.knowledge.search import CACHE_PREFIX, KnowledgeError, knowledge_search
from streams.knowledge.specs import knowledge_spec
from streams.knowledge.warming import KnowledgeWarmer
from streams.models import KnowledgeQuery, WebhookDelivery, WebhookEndpoint
from tests.factories import make_connection, make_knowledge_stream

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def spec_on(url, **fields):
    fields.setdefault("sources", (("kb-1", 2), ("kb-2", 1)))
    stream = make_knowledge_stream(connection=make_connection(url=url), **fields)
    return knowledge_spec(stream)


async def search(spec, text="refund window unopened item", **how):
    how = {"conversation_id": "conv-1", "origin": "console", "requested_by": "officer", **how}
    return await knowledge_search(spec=spec, text=text, **how)


@sync_to_async
def audit_entries(action):
    return list(
        AuditEntry.objects.filter(action=action).order_by("pk").values("after", "actor_label")
    )


async def test_a_query_is_validated_ranked_recorded_and_audited(knowledge_sim):
    simulator, url = knowledge_sim
    spec = await spec_on(url, confidence_threshold=0.6, freshness_days=90, max_results=10)
    query = await search(spec)

    sent = simulator.knowledge.queries[-1]
    assert sent["queryId"] == query.query_id
    assert sent["knowledgeSources"] == [
        {"knowledge_base_id": "kb-2", "priority": 1},
        {"knowledge_base_id": "kb-1", "priority": 2},
    ]
    assert sent["maxResults"] == 10 and sent["confidenceThreshold"] == 0.6
    assert query.status == "answered" and not query.cache_hit
    assert query.results_returned == len(query.results) == 10
    passed = [r for r in query.results if r["outcome"] == "passed"]
    assert query.results_validated == len(passed)
    assert query.governance_status == ("PASS" if passed else "FILTERED")
    # Passed results: priority 1 (kb-2) before priority 2 (kb-1), then by confidence.
    keys = [({"kb-2": 1, "kb-1": 2}[r["knowledge_base_id"]], -r["confidence"]) for r in passed]
    assert keys == sorted(keys)
    assert [r["rank"] for r in passed] == list(range(1, len(passed) + 1))
    for result in query.results:
        if result["outcome"] != "passed":
            assert result["reason"] and result["rank"] is None
    (entry,) = await audit_entries("knowledge.query")
    assert entry["actor_label"] == "officer"
    assert {
        "timestamp",
        "conversation_id",
        "query_id",
        "latency_ms",
        "results_returned",
        "results_validated",
        "cache_hit",
        "governance_status",
    } <= set(entry["after"])
    assert entry["after"]["query_id"] == query.query_id


async def test_the_same_query_normalised_is_a_cache_hit(knowledge_sim):
    simulator, url = knowledge_sim
    spec = await spec_on(url)
    first = await search(spec, "Refund   window unopened")
    second = await search(spec, "  refund window UNOPENED ")
    assert simulator.counters["knowledge_queries"] == 1
    assert second.cache_hit and not first.cache_hit
    assert second.cache_key == first.cache_key
    assert [r["document_id"] for r in second.results] == [r["document_id"] for r in first.results]
    entries = await audit_entries("knowledge.query")
    assert [e["after"]["cache_hit"] for e in entries] == [False, True]


async def test_a_different_threshold_or_language_is_another_cache_entry(knowledge_sim):
    simulator, url = knowledge_sim
    spec = await spec_on(url)
    await search(spec)
    other = spec.__class__(**{**spec.__dict__, "confidence_threshold": 0.5})
    await search(other)
    other_language = spec.__class__(**{**spec.__dict__, "language": "fr-FR"})
    await search(other_language)
    assert simulator.counters["knowledge_queries"] == 3


async def test_a_timeout_is_recorded_and_reported_as_504(knowledge_sim, caplog):
    simulator, url = knowledge_sim
    simulator.inject({"action": "knowledge", "swallow": 1})
    spec = await spec_on(url, query_timeout_seconds=0.5)
    with pytest.raises(KnowledgeError) as failed:
        await search(spec)
    assert failed.value.status == 504
    assert "ended without an answer (timeout): no answer within 0.5 s" in caplog.text
    row = await KnowledgeQuery.objects.aget()
    assert row.status == "timeout" and row.governance_status == ""
    (entry,) = await audit_entries("knowledge.query")
    assert entry["after"]["governance_status"] == "TIMEOUT"


async def test_a_server_error_is_recorded_with_its_code(knowledge_sim):
    _, url = knowledge_sim
    spec = await spec_on(url, sources=(("kb-404", 1),))
    with pytest.raises(KnowledgeError) as failed:
        await search(spec)
    assert failed.value.status == 502
    assert failed.value.code == "unknown_knowledge_base"
    row = await KnowledgeQuery.objects.aget()
    assert row.error_code == "unknown_knowledge_base" and "kb-404" in row.error_message


async def test_a_stream_without_sources_or_disabled_refuses_with_503(knowledge_sim):
    _, url = knowledge_sim
    spec = await spec_on(url, sources=())
    with pytest.raises(KnowledgeError) as failed:
        await search(spec)
    assert failed.value.status == 503
    assert "no enabled knowledge source" in str(failed.value)
    assert not await KnowledgeQuery.objects.aexists()


async def test_a_passing_query_is_sent_to_webhooks_that_want_it(knowledge_sim):
    _, url = knowledge_sim

    @sync_to_async
    def endpoints():
        for name, events in (("wants", ["knowledge.validated"]), ("not", ["insight.created"])):
            endpoint = WebhookEndpoint(name=name, url="https://r.test/h", events=events)
            endpoint.set_secret("whsec_" + "A" * 32)
            endpoint.save()

    await endpoints()
    spec = await spec_on(url, confidence_threshold=0.0, freshness_days=3650)
    query = await search(spec)
    assert query.governance_status == "PASS"
    delivery = await WebhookDelivery.objects.select_related("endpoint").aget()
    assert delivery.endpoint.name == "wants"
    assert delivery.payload["data"]["query_id"] == query.query_id
    assert all(r["outcome"] == "passed" for r in delivery.payload["data"]["results"])


async def test_warming_reruns_popular_queries_shortly_before_they_expire(knowledge_sim, settings):
    simulator, url = knowledge_sim
    settings.KNOWLEDGE_WARM_INTERVAL_SECONDS = 3.0
    spec = await spec_on(url, cache_ttl_seconds=12)
    for _ in range(3):
        await search(spec, "refund window")
    await search(spec, "roaming travel pass")
    assert simulator.counters["knowledge_queries"] == 2

    warmer = KnowledgeWarmer(worker="w1")
    assert await warmer.step() == 0, "nothing is due yet"
    key = CACHE_PREFIX + spec.cache_key("refund window")
    entry = await cache.aget(key)
    later = await cache.aget(CACHE_PREFIX + spec.cache_key("roaming travel pass"))
    # The lead is min(2 x interval, ttl / 2) = 6 s: wait until both entries are inside it
    # (the second was written after the first, by however long a slow database took); the
    # steps then have nearly 6 s before the entries expire.
    await asyncio.sleep(max(0.0, later["expires_at"] - time.time() - 5.9))
    other = KnowledgeWarmer(worker="w2")
    warmed = await asyncio.gather(warmer.step(), other.step())
    assert sum(warmed) == 2, "each entry warmed once, by one of the two workers"
    assert simulator.counters["knowledge_queries"] == 4
    refreshed = await cache.aget(key)
    assert refreshed["expires_at"] > entry["expires_at"] + 2
    origins = [q.origin async for q in KnowledgeQuery.objects.order_by("pk")]
    assert origins.count("warming") == 2
    # Warming queries do not count towards popularity, so they do not feed themselves.
    assert (await search(spec, "refund window")).cache_hit


async def test_the_figures_count_outcomes_latency_and_ratios(knowledge_sim):
    simulator, url = knowledge_sim
    spec = await spec_on(url, query_timeout_seconds=0.5)
    await search(spec, "refund window")
    await search(spec, "refund window")
    simulator.inject({"action": "knowledge", "swallow": 1})
    with pytest.raises(KnowledgeError):
        await search(spec, "roaming")
    figures = await sync_to_async(knowledge_metrics)(spec.stream_id)
    assert figures["queries"] == 3
    assert figures["answered"] == 2 and figures["timed_out"] == 1 and figures["errors"] == 0
    assert figures["cache_hit_ratio"] == 0.5
    assert figures["latency_p50_ms"] is not None
    assert figures["latency_p95_ms"] >= figures["latency_p50_ms"]
    rows = [q async for q in KnowledgeQuery.objects.filter(status="answered")]
    returned = sum(q.results_returned for q in rows)
    assert figures["validated_ratio"] == sum(q.results_validated for q in rows) / returned


async def test_streams_with_the_same_oauth_client_share_one_token(knowledge_sim):
    simulator, url = knowledge_sim
    first, second = await spec_on(url), await spec_on(url)
    await search(first, "refund window")
    await search(second, "roaming travel pass")
    assert simulator.counters["knowledge_connections"] == 2
    assert simulator.counters["tokens_issued"] == 1


async def test_nul_characters_from_genesys_do_not_reach_the_database(knowledge_sim):
    simulator, url = knowledge_sim
    for document in simulator.knowledge.corpus["kb-1"]:
        document["title"] = "Refund\x00policy"
    spec = await spec_on(url, sources=(("kb-1", 1),))
    query = await search(spec)
    stored = await KnowledgeQuery.objects.aget(pk=query.pk)
    assert stored.results and all(r["title"] == "Refund\ufffdpolicy" for r in stored.results)
