"""Seed 2's SUBSCRIBE payload and the validation pipeline for what comes back."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from streams.genesys.knowledge import (
    Governance,
    Outcome,
    Rules,
    SearchRequest,
    check_results,
    governance_status,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
RULES = Rules(confidence_threshold=0.75, freshness_days=90, priorities={"kb-1": 2, "kb-2": 1})


def request(**fields):
    return SearchRequest.model_validate(
        {
            "conversationId": "conv-7",
            "queryText": "refund policy",
            "knowledgeSources": [{"knowledge_base_id": "kb-1", "priority": 1}],
            **fields,
        }
    )


def result(doc="d1", kb="kb-1", confidence=0.9, days_old=10, **fields):
    when = (NOW - timedelta(days=days_old)).isoformat().replace("+00:00", "Z")
    return {
        "documentId": doc,
        "title": f"title {doc}",
        "snippet": "text",
        "confidenceScore": confidence,
        "lastUpdated": when,
        "url": "https://kb.example.com/x",
        "knowledgeBaseId": kb,
        **fields,
    }


def test_it_speaks_seed_2s_camel_case_with_a_query_id():
    wire = request(queryId="q-1").to_json()
    assert wire == (
        '{"messageType":"SUBSCRIBE","queryId":"q-1","conversationId":"conv-7",'
        '"queryText":"refund policy","knowledgeSources":[{"knowledge_base_id":"kb-1",'
        '"priority":1}],"maxResults":5,"confidenceThreshold":0.75,"language":"en-US"}'
    )


def test_it_accepts_python_names_too():
    built = SearchRequest(
        conversation_id="c",
        query_text="  refund  ",
        knowledge_sources=[{"knowledge_base_id": "kb-1", "priority": 10}],
        max_results=20,
        confidence_threshold=0.0,
    )
    assert built.query_text == "refund"


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"queryText": " a "}, "queryText"),  # too short once stripped
        ({"queryText": "   "}, "queryText"),
        ({"queryText": "x" * 501}, "queryText"),
        ({"maxResults": 0}, "maxResults"),
        ({"maxResults": 21}, "maxResults"),
        ({"confidenceThreshold": 1.01}, "confidenceThreshold"),
        ({"confidenceThreshold": -0.1}, "confidenceThreshold"),
        ({"knowledgeSources": [{"knowledge_base_id": "kb-1", "priority": 0}]}, "knowledgeSources"),
        ({"knowledgeSources": [{"knowledge_base_id": "kb-1", "priority": 11}]}, "knowledgeSources"),
        ({"knowledgeSources": []}, "knowledgeSources"),
        ({"conversationId": ""}, "conversationId"),
    ],
)
def test_it_refuses_what_is_out_of_bounds(fields, where):
    with pytest.raises(ValidationError) as caught:
        request(**fields)
    assert caught.value.errors()[0]["loc"][0] == where


def test_the_bounds_themselves_are_allowed():
    assert request(queryText="ab", maxResults=1, confidenceThreshold=1.0).max_results == 1
    assert request(queryText="x" * 500, maxResults=20, confidenceThreshold=0.0).max_results == 20


def test_each_result_keeps_its_outcome_and_reason():
    checked = check_results(
        [
            result("ok"),
            result("low", confidence=0.5),
            result("old", days_old=91),
            result("none", lastUpdated=None),
            result("bad", lastUpdated="last Tuesday"),
            result("nan", confidenceScore="high"),
            "not an object",
        ],
        RULES,
        now=NOW,
    )
    outcomes = {c.document_id: (c.outcome, c.reason) for c in checked}
    assert outcomes["ok"] == (Outcome.PASSED, "")
    assert outcomes["low"] == (
        Outcome.BELOW_CONFIDENCE,
        "confidence 0.50 is below the threshold 0.75",
    )
    assert outcomes["old"] == (
        Outcome.STALE,
        "last updated 91 days ago; the limit is 90 days",
    )
    assert outcomes["none"][0] is Outcome.MISSING_LAST_UPDATED
    assert outcomes["bad"][0] is Outcome.UNPARSEABLE_LAST_UPDATED
    assert "last Tuesday" in outcomes["bad"][1]
    assert outcomes["nan"][0] is Outcome.MALFORMED
    assert outcomes[""][0] is Outcome.MALFORMED
    assert len(checked) == 7


def test_the_freshness_limit_is_inclusive_and_the_threshold_too():
    checked = check_results([result("edge", confidence=0.75, days_old=90)], RULES, now=NOW)
    assert checked[0].outcome is Outcome.PASSED


def test_passed_results_rank_by_source_priority_then_confidence():
    checked = check_results(
        [
            result("kb1-high", kb="kb-1", confidence=0.99),
            result("kb2-low", kb="kb-2", confidence=0.80),
            result("kb2-high", kb="kb-2", confidence=0.95),
            result("filtered", kb="kb-2", confidence=0.1),
            result("unknown-source", kb="kb-9", confidence=1.0),
        ],
        RULES,
        now=NOW,
    )
    assert [(c.document_id, c.rank) for c in checked] == [
        ("kb2-high", 1),
        ("kb2-low", 2),
        ("kb1-high", 3),
        ("unknown-source", 4),
        ("filtered", None),
    ]


def test_governance_is_pass_with_one_passed_result_else_filtered():
    assert governance_status(check_results([result()], RULES, now=NOW)) is Governance.PASS
    low = check_results([result(confidence=0.1)], RULES, now=NOW)
    assert governance_status(low) is Governance.FILTERED
    assert governance_status([]) is Governance.FILTERED
