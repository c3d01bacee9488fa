import json

import pytest
from pydantic import ValidationError

from streams.genesys.payloads import (
    ConfidenceThreshold,
    Filter,
    InsightEvent,
    StreamLimits,
    Subscription,
    build_subscription,
)


def test_it_builds_seed_ones_subscription_shape():
    subscription = build_subscription(
        subscription_id="stream-42",
        interaction_ids=["interaction-12345"],
        insight_types=["knowledge_recommendation", "sentiment_alert"],
        min_confidence=0.7,
        max_confidence=1.0,
        resume_after="evt-000123",
    )
    assert json.loads(subscription.to_json()) == {
        "type": "subscribe",
        "id": "stream-42",
        "filters": [
            {"type": "eq", "attribute": "event_type", "value": "agentassist.insight"},
            {
                "type": "in",
                "attribute": "insight_type",
                "value": ["knowledge_recommendation", "sentiment_alert"],
            },
            {"type": "gte", "attribute": "confidence", "value": 0.7},
            {"type": "lte", "attribute": "confidence", "value": 1.0},
        ],
        "interaction_ids": ["interaction-12345"],
        "confidence_threshold": {"min_confidence": 0.7, "max_confidence": 1.0},
        "resume_after": "evt-000123",
    }


def test_it_omits_resume_after_when_there_is_nothing_to_resume():
    subscription = build_subscription(
        subscription_id="s",
        interaction_ids=[],
        insight_types=[],
        min_confidence=0,
        max_confidence=1,
    )
    body = json.loads(subscription.to_json())
    assert "resume_after" not in body
    assert [f["attribute"] for f in body["filters"]] == ["event_type", "confidence", "confidence"]


def test_it_refuses_an_unknown_filter_attribute_by_name():
    with pytest.raises(ValidationError, match="unknown filter attribute 'agent_id'"):
        Filter(type="eq", attribute="agent_id", value="a")


@pytest.mark.parametrize(
    ("operator", "value", "message"),
    [
        ("in", "not-a-list", "needs a non-empty list"),
        ("in", [], "needs a non-empty list"),
        ("gte", "high", "needs a number"),
        ("gte", True, "needs a number"),
        ("eq", ["a"], "needs a single value"),
        ("lte", 1.5, "outside 0..1"),
    ],
)
def test_it_refuses_a_value_that_does_not_fit_the_operator(operator, value, message):
    with pytest.raises(ValidationError, match=message):
        Filter(
            type=operator,
            attribute="confidence" if operator != "eq" else "insight_type",
            value=value,
        )


def test_it_refuses_an_unknown_operator():
    with pytest.raises(ValidationError):
        Filter(type="regex", attribute="insight_type", value=".*")


def test_threshold_refuses_min_above_max_in_plain_words():
    with pytest.raises(ValidationError, match=r"min confidence 0\.9 is above max confidence 0\.8"):
        ConfidenceThreshold(min_confidence=0.9, max_confidence=0.8)


def test_threshold_refuses_values_outside_0_1():
    with pytest.raises(ValidationError):
        ConfidenceThreshold(min_confidence=-0.1)


def test_subscription_matches_what_its_filters_say():
    subscription = build_subscription(
        subscription_id="s",
        interaction_ids=["i-1"],
        insight_types=["sentiment_alert"],
        min_confidence=0.5,
        max_confidence=0.9,
    )
    event = {
        "type": "agentassist.insight",
        "interaction_id": "i-1",
        "insight_type": "sentiment_alert",
        "confidence": 0.6,
    }
    assert subscription.matches(event)
    assert not subscription.matches({**event, "interaction_id": "i-2"})
    assert not subscription.matches({**event, "confidence": 0.95})
    assert not subscription.matches({**event, "insight_type": "compliance_flag"})
    assert not subscription.matches({**event, "type": "heartbeat"})


def test_subscription_refuses_identifiers_with_control_characters():
    with pytest.raises(ValidationError):
        Subscription(id="bad\nid", filters=[], confidence_threshold={"min_confidence": 0})


VALID_EVENT = {
    "type": "agentassist.insight",
    "interaction_id": "interaction-12345",
    "insight_type": "knowledge_recommendation",
    "confidence": 0.91,
    "content": {"text": "Offer the refund"},
}


def test_an_event_needs_no_id_or_timestamp():
    event = InsightEvent.model_validate(VALID_EVENT)
    assert event.id is None
    assert event.timestamp is None


def test_an_event_timestamp_is_parsed_and_made_aware():
    event = InsightEvent.model_validate({**VALID_EVENT, "timestamp": "2026-11-21T10:00:00.123Z"})
    assert event.timestamp.isoformat() == "2026-11-21T10:00:00.123000+00:00"
    naive = InsightEvent.model_validate({**VALID_EVENT, "timestamp": "2026-11-21T10:00:00"})
    assert naive.timestamp.utcoffset().total_seconds() == 0


def test_an_integer_confidence_is_accepted():
    assert InsightEvent.model_validate({**VALID_EVENT, "confidence": 1}).confidence == 1.0


@pytest.mark.parametrize(
    "change",
    [
        {"confidence": "0.9"},
        {"confidence": True},
        {"confidence": 1.2},
        {"confidence": float("nan")},
        {"interaction_id": ""},
        {"interaction_id": "x" * 129},
        {"insight_type": "bad\ttype"},
        {"timestamp": "yesterday"},
        {"id": ""},
    ],
)
def test_an_event_with_a_bad_field_is_refused(change):
    with pytest.raises(ValidationError):
        InsightEvent.model_validate({**VALID_EVENT, **change})


def test_an_event_without_interaction_is_refused():
    payload = dict(VALID_EVENT)
    del payload["interaction_id"]
    with pytest.raises(ValidationError):
        InsightEvent.model_validate(payload)


def test_stream_limits_say_when_saturated():
    limits = StreamLimits.model_validate(
        {"maxConcurrentStreams": 10, "maxSubscriptionsPerStream": 5, "currentStreams": 10}
    )
    assert limits.saturated
    assert not StreamLimits.model_validate(
        {"maxConcurrentStreams": 10, "currentStreams": 2}
    ).saturated
