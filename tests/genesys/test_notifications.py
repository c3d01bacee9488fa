"""The notifications flavour's pure parts: topics, channel planning and limits, and the
mapping of suggestion payloads (shaped as the public Genesys Python SDK models them)."""

import itertools
import json
import time

import pytest
from pydantic import ValidationError

from streams.genesys.frames import Frame, decode_frame
from streams.genesys.notifications import LimitListing, Limits, TooManyTopics, plan_channels
from streams.genesys.payloads import Filter
from streams.genesys.scoring import Matrix, Rule, Verdict
from streams.genesys.suggestions import (
    SUGGESTION_KINDS,
    read_suggestion,
    suggestion_topic,
    topic_kind,
)
from streams.ingest.records import Accepted, Filtered, process_frame, read_notification

CONVERSATION = "6b2bbb1a-5d66-4c2a-9f0e-55b0e4a6f1a2"

# An event body of the v2.conversations.{id}.suggestions.knowledge.search topic.
KNOWLEDGE_SEARCH_EVENT = {
    "suggestionId": "2f6e3c1e-0e73-4c5e-9a77-0c4bb1f9a001",
    "conversationId": CONVERSATION,
    "eventTime": "2026-11-21T10:15:00.123Z",
    "state": "Suggested",
    "triggerType": "Intent",
    "context": {"queryStatement": "how do I get a refund", "utteranceId": "u-1"},
    "knowledgeSearch": {
        "title": "Refund policy",
        "uri": "https://kb.example.com/articles/refunds",
        "snippets": ["Refunds are paid within 30 days."],
        "confidence": 0.82,
        "searchId": "s-1",
        "documentId": "d-1",
        "versionId": "v-1",
        "knowledgeAnswer": {"answer": "Offer the 30-day refund.", "startIndex": 0, "endIndex": 24},
    },
}

# The same kind of suggestion as GET /api/v2/conversations/{id}/suggestions lists it
# (the SDK's Suggestion: id, type, dateCreated, conversation reference).
ARTICLE_ENTITY = {
    "id": "2f6e3c1e-0e73-4c5e-9a77-0c4bb1f9a002",
    "type": "KnowledgeArticle",
    "dateCreated": "2026-11-21T10:16:00.000Z",
    "state": "Suggested",
    "triggerType": "ConversationStart",
    "knowledgeArticle": {
        "title": "Roaming charges",
        "snippets": ["Roaming is free in the EU.", "Elsewhere it is charged per day."],
        "document": {"id": "d-2"},
        "version": {"id": "v-2"},
    },
    "conversation": {"id": CONVERSATION},
    "selfUri": f"/api/v2/conversations/{CONVERSATION}/suggestions/x",
}


def test_it_builds_and_reads_suggestion_topics():
    topic = suggestion_topic(CONVERSATION, "knowledge.search")
    assert topic == f"v2.conversations.{CONVERSATION}.suggestions.knowledge.search"
    assert topic_kind(topic) == (CONVERSATION, "knowledge.search")
    assert topic_kind(f"v2.conversations.{CONVERSATION}.transcription") is None
    assert topic_kind("channel.metadata") is None
    # A kind not in the table comes back named as it is (the reader quarantines it).
    assert topic_kind(f"v2.conversations.{CONVERSATION}.suggestions.weather") == (
        CONVERSATION,
        "weather",
    )
    # The names Genesys' blog gives responses and scripts read as the same kinds.
    assert topic_kind(f"v2.conversations.{CONVERSATION}.suggestions.knowledge.response") == (
        CONVERSATION,
        "response",
    )
    assert suggestion_topic(CONVERSATION, "script", "knowledge.script").endswith(
        ".suggestions.knowledge.script"
    )


def test_it_spreads_conversations_over_channels_of_at_most_1000_topics():
    conversations = [f"c-{n}" for n in range(400)]
    kinds = list(SUGGESTION_KINDS)  # 6 topics per conversation: 166 conversations a channel
    plan = plan_channels(conversations, kinds, limits=Limits(), channels_free=19)
    assert [len(channel) for channel in plan] == [166, 166, 68]
    assert all(len(channel) * len(kinds) <= 1000 for channel in plan)
    assert list(itertools.chain(*plan)) == conversations  # each conversation on exactly one channel


def test_it_refuses_clearly_when_the_free_channels_cannot_carry_the_topics():
    conversations = [f"c-{n}" for n in range(30)]
    with pytest.raises(TooManyTopics) as refused:
        plan_channels(conversations, ["knowledge.search"], limits=Limits(20, 10), channels_free=2)
    message = str(refused.value)
    assert "30 conversations x 1 suggestion kinds = 30 topics need 3 channels" in message
    assert "2 of the OAuth client's 20 channels are free" in message


def test_an_orgs_published_limits_lower_the_documented_ones_but_never_raise_them():
    listing = LimitListing.model_validate(
        {
            "entities": [
                {"key": "max.channels", "namespace": "notifications", "value": 50},
                {"key": "max.topics.per.channel", "namespace": "notifications", "value": 300},
                {"key": "something.else", "namespace": "notifications", "value": 1},
            ]
        }
    )
    assert listing.limits() == Limits(max_channels=20, max_topics=300)
    assert LimitListing.model_validate({"entities": []}).limits() == Limits(20, 1000)


def test_a_knowledge_search_event_maps_to_an_insight_with_its_confidence():
    fields = read_suggestion("knowledge.search", KNOWLEDGE_SEARCH_EVENT, snippet_limit=250)
    assert fields.suggestion_id == KNOWLEDGE_SEARCH_EVENT["suggestionId"]
    assert fields.conversation_id == CONVERSATION
    assert fields.confidence == 0.82
    assert fields.text == "Refund policy — Offer the 30-day refund."
    assert fields.event_time.isoformat() == "2026-11-21T10:15:00.123000+00:00"


def test_an_article_suggestion_from_the_rest_listing_has_no_confidence_and_none_is_invented():
    fields = read_suggestion("knowledge.article", ARTICLE_ENTITY, snippet_limit=250)
    assert fields.suggestion_id == ARTICLE_ENTITY["id"]
    assert fields.conversation_id == CONVERSATION
    assert fields.confidence is None
    assert fields.text == (
        "Roaming charges — Roaming is free in the EU. — Elsewhere it is charged per day."
    )


def test_intent_confidence_and_text_come_from_the_active_intent_and_its_slots():
    intent = {
        **_base(),
        "activeIntent": {
            "intent": "Cancel card",
            "intentId": "i-1",
            "confidence": 0.4,
            "detectedSlots": [
                {"slotName": "cardType", "slotValue": "debit", "probability": 0.9},
                {"slotName": "reason", "slotValue": None},
            ],
        },
    }
    fields = read_suggestion("intent", intent, snippet_limit=250)
    assert (fields.confidence, fields.text) == (0.4, "Cancel card — cardType: debit")


def test_a_third_party_suggestion_reads_its_title_text_and_sources():
    body = {
        **_base(),
        "thirdPartySuggestion": {
            "title": "Refund policy",
            "text": "Refunds take 14 days.",
            "sources": [{"name": "Handbook", "url": "https://h.example/"}, {"url": "https://x/"}],
        },
    }
    text = read_suggestion("thirdpartyaction", body, snippet_limit=250).text
    assert text == "Refund policy — Refunds take 14 days. — sources: Handbook, https://x/"


def test_a_response_and_a_script_read_what_their_ids_resolved_to_or_say_why_not():
    response = {**_base(), "cannedResponse": {"responseId": "r-1", "libraryId": "l-1"}}
    unresolved = read_suggestion("response", response, snippet_limit=250).text
    assert unresolved == "Canned response r-1 (not resolved)"
    resolved = {**response, "assistgovResolved": {"name": "Apology", "text": "We are sorry."}}
    assert read_suggestion("response", resolved, snippet_limit=250).text == (
        "Apology — We are sorry."
    )
    refused = {**response, "assistgovResolved": {"error": "not resolved: permission x missing"}}
    assert "permission x missing" in read_suggestion("response", refused, snippet_limit=250).text
    # The listing names them by reference (`script.id`), the events by flat ids.
    script = {**_base(), "script": {"script": {"id": "s-9"}, "page": {"id": "p"}, "data": {}}}
    assert read_suggestion("script", script, snippet_limit=250).text == "Script s-9 (not resolved)"


@pytest.mark.parametrize(
    "change",
    [
        {"knowledgeSearch": {**KNOWLEDGE_SEARCH_EVENT["knowledgeSearch"], "confidence": 1.5}},
        {"knowledgeSearch": {**KNOWLEDGE_SEARCH_EVENT["knowledgeSearch"], "confidence": "high"}},
        {"suggestionId": ""},
        {"conversationId": None},
        {"eventTime": "yesterday"},
    ],
)
def test_a_malformed_suggestion_is_refused_with_a_reason(change):
    with pytest.raises(ValidationError):
        read_suggestion("knowledge.search", {**KNOWLEDGE_SEARCH_EVENT, **change}, snippet_limit=9)


def test_the_matrix_decides_insights_without_a_confidence_by_its_explicit_rule():
    rules = (Rule("knowledge.article", 0.6, 1.0, 1.0, auto_approve_at=0.7),)
    review = Matrix(default_weight=1.0, rules=rules, name="m")
    assert review.verdict("knowledge.article", None) == (Verdict.REVIEW, "")
    filtering = Matrix(default_weight=1.0, rules=rules, name="m", no_confidence=Verdict.AUTO_FILTER)
    assert filtering.verdict("knowledge.article", None) == (
        Verdict.AUTO_FILTER,
        "confidence matrix m, no confidence: auto-filter",
    )
    dropping = Matrix(default_weight=1.0, rules=rules, no_confidence=Verdict.DROP)
    assert dropping.verdict("knowledge.article", None) == (
        Verdict.DROP,
        "no confidence: not stored",
    )
    # A confidence is still judged by the type's rule.
    assert filtering.verdict("knowledge.article", 0.9)[0] is Verdict.AUTO_APPROVE


def _base() -> dict:
    return {
        "suggestionId": "s-9",
        "conversationId": CONVERSATION,
        "eventTime": "2026-11-21T10:15:00Z",
    }


def test_a_streams_extra_filters_apply_to_suggestions():
    only_search = (Filter(type="eq", attribute="insight_type", value="knowledge.search"),)

    def process(kind, body):
        frame = json.dumps({"topicName": suggestion_topic(CONVERSATION, kind), "eventBody": body})
        return process_frame(
            Frame(frame, time.time(), decode_frame(frame)),
            read=read_notification,
            matrix=Matrix(default_weight=1.0),
            max_frame_bytes=65536,
            filters=only_search,
        )

    assert isinstance(process("knowledge.search", KNOWLEDGE_SEARCH_EVENT), Accepted)
    filtered = process("knowledge.article", ARTICLE_ENTITY)
    assert isinstance(filtered, Filtered)
    assert filtered.resume_id == "2026-11-21T10:16:00.000Z"


def test_a_kind_or_listing_type_not_reviewed_here_is_quarantined_with_its_reason():
    from streams.ingest.records import Unreadable, read_notification

    topic = f"v2.conversations.{CONVERSATION}.suggestions.weather"
    with pytest.raises(Unreadable, match="a suggestion of kind 'weather': not a kind") as raised:
        read_notification({"topicName": topic, "eventBody": _base()})
    assert raised.value.external_id == "s-9"
    faq = {"id": "s-8", "type": "Faq", "conversation": {"id": CONVERSATION}, "faq": {}}
    topic = f"v2.conversations.{CONVERSATION}.suggestions.faq"
    with pytest.raises(Unreadable, match="Google Agent Assist FAQ suggestion"):
        read_notification({"topicName": topic, "eventBody": faq})
