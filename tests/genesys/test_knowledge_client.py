"""The knowledge client against the simulator: correlation, the limiter, timeouts, errors,
reconnects. After every test no slot is in use and no query is left pending."""

import asyncio

import httpx
import pytest

from streams.genesys.auth import Credentials, TokenManager
from streams.genesys.knowledge import (
    KnowledgeClient,
    QueryBusy,
    QueryLost,
    QueryRefused,
    QueryTimedOut,
    SearchRequest,
    Unavailable,
)
from streams.genesys.sessions import ClientSettings, ClientState
from tests.simulator import eventually, start_simulator

SETTINGS = ClientSettings(backoff_base=0.01, backoff_cap=0.05, policy_backoff=123.0)


@pytest.fixture
async def sim():
    simulator, url = await start_simulator()
    yield simulator, url
    await simulator.stop()


@pytest.fixture
async def client(sim):
    made = []

    def make(limit=5, secret="assistgov-demo-secret", grace=30.0, login=None):
        http = httpx.AsyncClient()
        tokens = TokenManager(
            http,
            token_url=(login or sim[1]) + "/oauth/token",
            credentials=Credentials("assistgov-demo", secret),
        )
        knowledge = KnowledgeClient(
            tokens=tokens,
            api_base_url=sim[1],
            max_in_flight=limit,
            settings=SETTINGS,
            late_answer_grace=grace,
        )
        made.append((knowledge, http))
        return knowledge

    yield make
    for knowledge, http in made:
        assert knowledge.limiter.in_use == 0, "a slot leaked"
        assert knowledge.in_flight() == 0, "a query was left pending"
        await knowledge.close()
        await http.aclose()


def ask(text, conversation="conv-1", kb="kb-1", **fields):
    return SearchRequest(
        conversation_id=conversation,
        query_text=text,
        knowledge_sources=[{"knowledge_base_id": kb, "priority": 1}],
        **fields,
    )


def expected(simulator, request):
    return [r["documentId"] for r in simulator.knowledge.search(request)]


def documents(answer):
    return [r["documentId"] for r in answer.results]


async def test_it_queries_and_matches_answers_by_query_id(sim, client):
    simulator, _ = sim
    knowledge = client()
    texts = ["refund window unopened item", "roaming travel pass", "password reset link"]
    answers = await asyncio.gather(*(knowledge.query(ask(t), within=5) for t in texts))
    for text, answer in zip(texts, answers, strict=True):
        assert documents(answer) == expected(simulator, ask(text))
        assert answer.conversation_id == "conv-1" and answer.attempts == 1
    sent_ids = [q["queryId"] for q in simulator.knowledge.queries]
    assert sorted(sent_ids) == sorted(a.query_id for a in answers)


async def test_without_an_echoed_query_id_answers_match_in_order_per_conversation(sim, client):
    simulator, _ = sim
    simulator.inject({"action": "knowledge", "echo_query_id": False})
    knowledge = client()
    requests = [
        ask("refund window", conversation="a"),
        ask("roaming travel pass", conversation="b", kb="kb-2"),
        ask("warranty repair serial", conversation="a"),
        ask("address billing identity", conversation="b", kb="kb-3"),
    ]
    answers = await asyncio.gather(*(knowledge.query(r, within=5) for r in requests))
    for request, answer in zip(requests, answers, strict=True):
        assert documents(answer) == expected(simulator, request)


async def test_a_late_answer_without_query_id_is_not_taken_for_the_next_query(sim, client):
    simulator, _ = sim
    simulator.inject({"action": "knowledge", "echo_query_id": False, "delay": 0.6})
    knowledge = client()
    with pytest.raises(QueryTimedOut):
        await knowledge.query(ask("refund window unopened"), within=0.3)
    second = ask("warranty repair serial number")
    answer = await knowledge.query(second, within=5)
    assert documents(answer) == expected(simulator, second)


async def test_an_answer_that_never_comes_blocks_its_conversation_only_for_the_grace(sim, client):
    simulator, _ = sim
    simulator.inject({"action": "knowledge", "echo_query_id": False, "swallow": 1})
    knowledge = client(grace=0.5)
    with pytest.raises(QueryTimedOut):
        await knowledge.query(ask("refund window unopened"), within=0.2)
    await asyncio.sleep(0.5)
    second = ask("warranty repair serial number")
    answer = await knowledge.query(second, within=5)
    assert documents(answer) == expected(simulator, second)


async def test_a_full_limiter_refuses_callers_that_will_not_wait(sim, client):
    simulator, _ = sim
    simulator.inject({"action": "knowledge", "delay": 0.3})
    knowledge = client(limit=2)
    running = [asyncio.create_task(knowledge.query(ask(f"refund {n}"), within=5)) for n in (1, 2)]
    await eventually(lambda: knowledge.limiter.in_use == 2, what="two in flight")
    with pytest.raises(QueryBusy) as busy:
        await knowledge.query(ask("refund 3"), within=5, wait=False)
    assert busy.value.code == "too_many_requests"
    waiting = await knowledge.query(ask("refund 4"), within=5)  # waits for a slot
    assert waiting.results
    assert all(answer.results for answer in await asyncio.gather(*running))


async def test_timeouts_errors_and_answers_in_a_storm_end_each_query_once(sim, client):
    simulator, _ = sim
    simulator.inject({"action": "knowledge", "delay": 0.05, "swallow": 2, "limit": 3})
    knowledge = client(limit=3)
    requests = [ask(f"refund window {n}") for n in range(12)]
    requests.append(ask("unknown source", kb="kb-404"))
    outcomes = await asyncio.gather(
        *(knowledge.query(r, within=3) for r in requests), return_exceptions=True
    )
    kinds = [type(o).__name__ for o in outcomes]
    assert kinds.count("QueryTimedOut") == 2
    assert kinds.count("Answer") == 10
    refused = outcomes[-1]
    assert isinstance(refused, QueryRefused)
    assert refused.code == "unknown_knowledge_base"
    assert "kb-404" in str(refused)
    # Nothing more than the limit was ever in flight at the server.
    assert simulator.counters["knowledge_error_too_many_requests"] == 0


async def test_a_server_error_carries_its_code_and_message(sim, client):
    simulator, _ = sim
    simulator.inject({"action": "knowledge", "limit": 0})
    knowledge = client()
    with pytest.raises(QueryRefused) as refused:
        await knowledge.query(ask("refund"), within=5)
    assert refused.value.code == "too_many_requests"
    assert "more than 0 in flight" in str(refused.value)


async def test_queries_in_flight_when_the_socket_drops_are_sent_once_more(sim, client):
    simulator, _ = sim
    simulator.inject({"action": "knowledge", "delay": 0.4})
    knowledge = client()
    task = asyncio.create_task(knowledge.query(ask("refund window"), within=10))
    await eventually(lambda: simulator.counters["knowledge_queries"] == 1, what="query sent")
    simulator.inject({"action": "drop"})
    answer = await task
    assert answer.attempts == 2
    assert documents(answer) == expected(simulator, ask("refund window"))
    assert simulator.counters["knowledge_connections"] == 2


async def test_a_query_dropped_twice_fails_clearly(sim, client):
    simulator, _ = sim
    simulator.inject({"action": "knowledge", "delay": 5})
    knowledge = client()
    task = asyncio.create_task(knowledge.query(ask("refund window"), within=10))
    for sent in (1, 2):
        await eventually(
            lambda sent=sent: simulator.counters["knowledge_queries"] == sent, what="query sent"
        )
        simulator.inject({"action": "drop"})
    with pytest.raises(QueryLost) as lost:
        await task
    assert "dropped while the query was in flight, 2 times" in str(lost.value)


async def test_queries_wait_for_a_connection_and_refused_credentials_fail_fast(sim, client):
    knowledge = client(secret="wrong")
    with pytest.raises(Unavailable) as unavailable:
        await knowledge.query(ask("refund"), within=5)
    assert "refused the client credentials" in str(unavailable.value)
    assert knowledge.state is ClientState.ERROR
    with pytest.raises(Unavailable):
        await knowledge.query(ask("refund again"), within=5)


async def test_an_unreachable_token_endpoint_is_reported_and_retried(sim, client):
    knowledge = client(login="http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(QueryTimedOut):
        await knowledge.query(ask("refund"), within=0.5)
    assert knowledge.state is ClientState.RECONNECTING
    assert "ConnectError" in knowledge.detail


async def test_seed_2s_example_knowledge_bases_are_known(sim, client):
    knowledge = client()
    for kb in ("kb-uuid-1", "kb-uuid-2"):  # the knowledge base ids of seed 2's example
        answer = await knowledge.query(ask("refund policy", kb=kb), within=5)
        assert answer.results and {r["knowledgeBaseId"] for r in answer.results} == {kb}
