"""Genesys' own Python SDK (PureCloudPlatformClientV2) as the contract: everything the
simulator serves and publishes is read with the SDK's models (`ApiClient.deserialize`), the
fields a client relies on present and typed, every enum one the SDK knows (the SDK turns an
unknown value into "outdated_sdk_version"); what the project sends is built into the SDK's
request models and comes back unchanged (no field the SDK does not know, none mistyped) with
the fields Genesys marks required."""

import asyncio
import collections
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import websockets
from PureCloudPlatformClientV2 import ApiClient

from streams.genesys.following import conversations_query
from streams.genesys.knowledge_rest import document_feedback_body
from streams.genesys.suggestions import KIND_TOPICS, REST_TYPES, SUGGESTION_KINDS
from streams.simulator.conversations import agent_ids, queue_ids
from streams.simulator.notifications import suggestion_kind
from tests.simulator import eventually, start_simulator

SDK = ApiClient()
OUTDATED = "outdated_sdk_version"
# The SDK's topic event model per suggestion kind.
EVENT_MODELS = {
    "knowledge.search": "ConversationKnowledgeSearchSuggestionsTopicKnowledgeSearchSuggestionEvent",
    "knowledge.article": (
        "ConversationKnowledgeArticleSuggestionsTopicKnowledgeArticleSuggestionEvent"
    ),
    "response": "ConversationResponseSuggestionsTopicCannedResponseSuggestionEvent",
    "script": "ConversationScriptSuggestionsTopicScriptSuggestionEvent",
    "intent": "ConversationIntentSuggestionsTopicIntentSuggestionEvent",
    "thirdpartyaction": (
        "ConversationThirdPartyActionSuggestionsTopicThirdPartyActionSuggestionEvent"
    ),
}


class _Answer:
    """What `ApiClient.deserialize` reads: a body and its content type."""

    def __init__(self, body):
        self.data = body if isinstance(body, str) else json.dumps(body)

    def getheader(self, name):
        return "application/json"


def _outdated(value, path="") -> list[str]:
    if value == OUTDATED:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _outdated(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for n, v in enumerate(value) for p in _outdated(v, f"{path}[{n}]")]
    return []


def sdk(body, model: str):
    """The body read by the SDK's model; fails on any enum value the SDK does not know."""
    parsed = SDK.deserialize(_Answer(body), model)
    assert parsed is not None, f"the SDK read nothing as {model}"
    outdated = _outdated(parsed.to_dict())
    assert not outdated, f"{model}: values the SDK does not know at {outdated}"
    return parsed


def round_trip(body: dict, model: str):
    """A request body the project sends, read into the SDK's model and written back: equal,
    so every field is one the SDK knows, typed as it types it."""
    parsed = sdk(body, model)
    assert SDK.sanitize_for_serialization(parsed) == body
    return parsed


@pytest.fixture
async def sim():
    simulator, url = await start_simulator(
        interactions=4, queues=2, agents=3, heartbeat_seconds=0.2, conversation_turnover=40
    )
    async with httpx.AsyncClient(base_url=url) as http:
        token = (
            await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=("assistgov-demo", "assistgov-demo-secret"),
            )
        ).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        yield simulator, http
    await simulator.stop()


def _events_of_every_kind(simulator):
    for insight_type in ("knowledge_recommendation", "sentiment_alert", "compliance_flag"):
        simulator.emit(20, {"insight_type": insight_type})
    kinds = {suggestion_kind(e, simulator.config.run_id) for e in simulator.events}
    assert kinds == set(SUGGESTION_KINDS)


async def test_every_topic_event_reads_as_the_sdks_model_of_its_kind(sim):
    simulator, http = sim
    channel = (await http.post("/api/v2/notifications/channels")).json()
    sdk(channel, "Channel")
    conversations = simulator.generator.interactions
    topics = [
        f"v2.conversations.{c}.suggestions.{names[0]}"
        for c in conversations
        for names in KIND_TOPICS.values()
    ] + [f"v2.routing.queues.{q}.conversations" for q in queue_ids(2)]
    subscribed = await http.put(
        f"/api/v2/notifications/channels/{channel['id']}/subscriptions",
        json=[{"id": t} for t in topics],
    )
    assert {t.id for t in sdk(subscribed.json(), "ChannelTopicEntityListing").entities} == set(
        topics
    )
    seen: dict[str, list] = {}
    async with websockets.connect(channel["connectUri"]) as ws:
        await eventually(lambda: simulator.notifications.sockets, what="the socket")
        _events_of_every_kind(simulator)
        simulator.emit(60, {"insight_type": "compliance_flag"})  # conversations end, start
        await ws.send(json.dumps({"message": "ping"}))
        while not {*EVENT_MODELS, "pong", "conversations"} <= set(seen):
            message = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
            body = message["eventBody"]
            name = message["topicName"]
            if name == "channel.metadata":
                # The SDK does not model the socket's own messages: their documented shape.
                assert set(message) <= {"topicName", "eventBody", "version", "metadata"}
                seen.setdefault("pong" if body["message"] == "pong" else "heartbeat", [])
                continue
            kind = name.rsplit(".suggestions.", 1)[-1] if ".suggestions." in name else "queue"
            seen.setdefault(name.split(".")[-1] if kind == "queue" else kind, []).append(body)
            if kind == "queue":
                sdk(body, "QueueConversationEventTopicConversation")
    checks = {
        "knowledge.search": lambda e: (e.knowledge_search.document_id, e.knowledge_search.title),
        "knowledge.article": lambda e: (e.knowledge_article.document_id,),
        "response": lambda e: (e.canned_response.response_id, e.canned_response.library_id),
        "script": lambda e: (e.script.script_id, e.script.page_id),
        "intent": lambda e: (e.active_intent.intent, e.active_intent.intent_id),
        "thirdpartyaction": lambda e: (
            e.third_party_suggestion.text,
            e.third_party_suggestion.sources[0].name,
        ),
    }
    for kind, model in EVENT_MODELS.items():
        for body in seen[kind]:
            event = sdk(body, model)
            assert isinstance(event.event_time, datetime) and event.suggestion_id
            assert event.state == "Suggested" and event.conversation_id in conversations
            assert all(checks[kind](event)), (kind, body)
            # Nothing the SDK's model does not have (a section of another shape, say).
            assert set(body) <= set(event.attribute_map.values()), (kind, set(body))
    assert "heartbeat" in seen or "pong" in seen


async def test_every_rest_answer_reads_as_the_sdks_model(sim):
    simulator, http = sim
    _events_of_every_kind(simulator)
    by_conversation = collections.Counter(e["interaction_id"] for e in simulator.events)
    conversation = by_conversation.most_common(1)[0][0]

    listing = sdk(
        (await http.get("/api/v2/notifications/availabletopics")).json(),
        ("AvailableTopicEntityListing"),
    )
    offered = {t.id for t in listing.entities if "WebSocket" in t.transports}
    assert {f"v2.conversations.{{id}}.suggestions.{n[0]}" for n in KIND_TOPICS.values()} <= offered
    sdk((await http.get("/api/v2/notifications/channels")).json(), "ChannelEntityListing")

    queues = sdk((await http.get("/api/v2/routing/queues")).json(), "QueueEntityListing")
    assert [q.id for q in queues.entities] == queue_ids(2)
    assert all(q.name and q.date_created and q.division.id for q in queues.entities)
    queue = sdk((await http.get(f"/api/v2/routing/queues/{queue_ids(2)[0]}")).json(), "Queue")
    assert queue.self_uri.endswith(queue.id)
    users = sdk(
        (await http.get("/api/v2/users", params={"pageSize": 2})).json(), ("UserEntityListing")
    )
    assert users.total == 3 and len(users.entities) == 2 and users.entities[0].name
    assert [u.id for u in users.entities] == agent_ids(3)[:2]

    # The listing, paged by the opaque cursors it gives, every type one the SDK knows.
    seen, path, params = [], f"/api/v2/conversations/{conversation}/suggestions", {"pageSize": 4}
    while path:
        page = sdk((await http.get(path, params=params)).json(), "SuggestionListing")
        seen += page.entities
        path, params = page.next_uri, None
    assert len({s.id for s in seen}) == len(seen) > 4
    listed = {
        suggestion_kind(e, "")
        for e in simulator.events
        if e["interaction_id"] == conversation and suggestion_kind(e, "") != "intent"
    }
    assert {REST_TYPES[s.type] for s in seen} == listed
    references = {
        "KnowledgeSearch": lambda s: (s.knowledge_search.document.id, s.knowledge_search.version),
        "KnowledgeArticle": lambda s: (s.knowledge_article.document.id,),
        "CannedResponse": lambda s: (s.canned_response.response.id, s.canned_response.library),
        "Script": lambda s: (s.script.script.id, s.script.page.id),
        "ThirdPartySuggestion": lambda s: (s.third_party_suggestion.text,),
    }
    for suggestion in seen:
        assert suggestion.conversation.id == conversation
        assert isinstance(suggestion.date_created, datetime)
        assert all(references[suggestion.type](suggestion))
    one = sdk((await http.get(seen[0].self_uri)).json(), "Suggestion")
    assert one.id == seen[0].id

    # What the ids of responses and scripts stand for.
    response = next(s for s in seen if s.type == "CannedResponse").canned_response.response.id
    resolved = sdk(
        (await http.get(f"/api/v2/responsemanagement/responses/{response}")).json(), "Response"
    )
    assert resolved.name and resolved.texts[0].content
    script = next(s for s in seen if s.type == "Script").script
    found = sdk((await http.get(f"/api/v2/scripts/{script.script.id}")).json(), "Script")
    assert found.name and found.pages[0].id == script.page.id

    # Counts, with the metrics asked for, and the filters' and/or.
    now = datetime.now(UTC)
    query = conversations_query(
        [],
        [],
        (now - timedelta(hours=1)).timestamp(),
        (now + timedelta(hours=1)).timestamp(),
        by_type=True,
    )
    query["metrics"] = ["nDistinctSuggestions", "nKnowledgeSearchSuggestions"]
    query["filter"] = {
        "type": "and",
        "predicates": [
            {"type": "dimension", "dimension": "conversationId", "value": conversation},
            {"type": "dimension", "dimension": "suggestionType", "value": "Script"},
        ],
    }
    answer = sdk(
        (await http.post("/api/v2/analytics/agentcopilots/aggregates/query", json=query)).json(),
        "AgentCopilotAggregateQueryResponse",
    )
    scripts = sum(1 for s in seen if s.type == "Script")
    [result] = answer.results
    assert result.group == {"conversationId": conversation, "suggestionType": "Script"}
    metrics = {m.metric: m.stats.count for m in result.data[0].metrics}
    assert metrics == {"nDistinctSuggestions": scripts}  # no knowledge search among scripts

    # Knowledge: the bases, a search with its documents' version and variation ids.
    bases = sdk(
        (await http.get("/api/v2/knowledge/knowledgebases")).json(), ("KnowledgeBaseListing")
    )
    kb = bases.entities[0].id
    search = sdk(
        (
            await http.post(
                f"/api/v2/knowledge/knowledgebases/{kb}/documents/search",
                json={"query": "refund", "pageSize": 3},
            )
        ).json(),
        "KnowledgeDocumentSearch",
    )
    document = search.results[0].document
    assert document.id and document.document_version.id and document.variations[0].id

    # Agent Assist's own configuration: assistants with their copilot settings, and queues.
    assistants = sdk(
        (await http.get("/api/v2/assistants", params={"expand": "copilot"})).json(),
        "AssistantListing",
    )
    assert len(assistants.entities) == 2
    first = assistants.entities[0]
    assert first.name and first.state == "Active" and first.copilot.enabled is True
    assert first.copilot.auto_search_config.type == "ArticlesWithAnswerHighlights"
    assert first.copilot.knowledge_answer_config.enabled is True
    served = sdk(
        (await http.get(f"/api/v2/assistants/{first.id}/queues")).json(),
        "AssistantQueueListing",
    )
    assert [q.id for q in served.entities] == queue_ids(2)[:1]
    assert served.entities[0].assistant.id == first.id and served.entities[0].media_types

    # Errors read as the SDK's ErrorBody.
    for answer in (
        await http.get(f"/api/v2/conversations/{conversation}/suggestions", params={"after": "x"}),
        await http.get("/api/v2/scripts/nothing"),
    ):
        error = sdk(answer.json(), "ErrorBody")
        assert error.status == answer.status_code and error.message


async def test_what_the_project_sends_is_the_sdks_request_models(sim):
    simulator, http = sim
    from streams.webhooks.models import GenesysFeedback

    engagement = GenesysFeedback(kind="suggestion", rating="Positive").body()
    assert round_trip(engagement, "SuggestionEngagement").engagement_type == "Feedback"
    summary = GenesysFeedback(kind="summary", rating="Negative", comment="Fixed text").body()
    assert round_trip(summary, "FeedbackAddRequest").summary == "Fixed text"

    feedback = GenesysFeedback(
        kind="document",
        rating="Negative",
        comment="Withdrawn",
        knowledge_base_id="kb-1",
        document_id="d-1",
        document_version_id="v-1",
        document_variation_id="var-1",
    ).body()
    model = round_trip(feedback, "KnowledgeDocumentFeedback")
    # What Genesys' schema marks required (the SDK's Java docs: documentVariation, rating,
    # document and application).
    assert model.document_variation.id == "var-1" and model.rating == "Negative"
    assert (model.document.id, model.document.version_id) == ("d-1", "v-1")
    assert model.application.type == "Assistant"

    now = datetime.now(UTC)
    query = conversations_query(
        ["q-1"], ["u-1"], (now - timedelta(minutes=5)).timestamp(), now.timestamp(), by_type=True
    )
    parsed = round_trip(query, "AgentCopilotAggregationQuery")
    assert parsed.interval and parsed.filter.type == "or"
    assert {p.dimension for p in parsed.filter.predicates} == {"queueId", "userId"}

    # The simulator refuses a document feedback without what Genesys requires.
    corpus = simulator.knowledge.corpus
    kb = next(iter(corpus))
    doc = corpus[kb][0]["documentId"]
    path = f"/api/v2/knowledge/knowledgebases/{kb}/documents/{doc}/feedback"
    bare = {"rating": "Negative", "reason": "DocumentContent", "state": "Final"}
    assert (await http.post(path, json=bare)).status_code == 400
    complete = document_feedback_body(
        rating="Negative", comment="", document_id=doc, version_id="v", variation_id="var"
    )
    answer = await http.post(path, json=complete)
    assert answer.status_code == 200
    sdk(answer.json(), "KnowledgeDocumentFeedback")
