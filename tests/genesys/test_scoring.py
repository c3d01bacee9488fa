import pytest

from streams.genesys.scoring import Matrix, Rule, Verdict, extract_snippet, relevance

SEED_MATRIX = Matrix(
    default_weight=0.5,
    rules=(
        Rule("knowledge_recommendation", 0.7, 1.0, 1.0),
        Rule("sentiment_alert", 0.5, 0.9, 0.8),
        Rule("compliance_flag", 0.0, 1.0, 0.9),
    ),
)


@pytest.mark.parametrize(
    ("insight_type", "confidence", "expected"),
    [
        ("knowledge_recommendation", 0.91, 0.91),
        ("sentiment_alert", 0.9, 0.72),
        ("compliance_flag", 0.5, 0.45),
        ("brand_new_type", 0.8, 0.4),
    ],
)
def test_it_scores_confidence_times_the_type_weight(insight_type, confidence, expected):
    weight = SEED_MATRIX.weight_for(insight_type)
    assert relevance(confidence, weight) == pytest.approx(expected)


def test_it_admits_confidence_within_the_rule_inclusive():
    assert SEED_MATRIX.verdict("sentiment_alert", 0.5)[0] is Verdict.REVIEW
    assert SEED_MATRIX.verdict("sentiment_alert", 0.9)[0] is Verdict.REVIEW
    assert SEED_MATRIX.verdict("sentiment_alert", 0.49)[0] is Verdict.DROP
    assert SEED_MATRIX.verdict("sentiment_alert", 0.91)[0] is Verdict.DROP


def test_it_admits_unknown_types_at_any_confidence():
    assert SEED_MATRIX.verdict("brand_new_type", 0.01)[0] is Verdict.REVIEW


def test_envelope_spans_the_selected_types():
    assert SEED_MATRIX.envelope(["knowledge_recommendation", "sentiment_alert"]) == (0.5, 1.0)
    assert SEED_MATRIX.envelope(["knowledge_recommendation"]) == (0.7, 1.0)


def test_envelope_is_everything_for_all_types_or_a_type_without_rule():
    assert SEED_MATRIX.envelope([]) == (0.0, 1.0)
    assert SEED_MATRIX.envelope(["knowledge_recommendation", "other"]) == (0.0, 1.0)


def test_snippet_takes_content_text():
    assert extract_snippet({"text": "Offer the refund", "kb": "kb-1"}) == "Offer the refund"


def test_snippet_collapses_whitespace_and_drops_control_characters():
    assert extract_snippet({"text": "  a\n\n b\tc\x00\x07d  "}) == "a b cd"


def test_snippet_of_long_text_is_250_characters_ending_in_an_ellipsis():
    snippet = extract_snippet({"text": "word " * 200})
    assert len(snippet) <= 250
    assert snippet.endswith("…")
    assert extract_snippet({"text": "x" * 250}) == "x" * 250


def test_snippet_of_content_without_text_is_its_json():
    assert extract_snippet({"score": 3, "a": "b"}) == '{"a": "b", "score": 3}'
    assert extract_snippet("plain string") == "plain string"
    assert extract_snippet(None) == ""


AUTO = Matrix(
    default_weight=0.5,
    name="strict",
    rules=(
        Rule("compliance_flag", 0.3, 1.0, 0.9, auto_approve_at=0.95, auto_filter=True),
        Rule("sentiment_alert", 0.5, 0.9, 0.8),
    ),
)


@pytest.mark.parametrize(
    ("insight_type", "confidence", "verdict"),
    [
        ("compliance_flag", 0.96, Verdict.AUTO_APPROVE),
        ("compliance_flag", 0.95, Verdict.AUTO_APPROVE),
        ("compliance_flag", 0.94, Verdict.REVIEW),
        ("compliance_flag", 0.3, Verdict.REVIEW),
        ("compliance_flag", 0.29, Verdict.AUTO_FILTER),
        ("sentiment_alert", 0.49, Verdict.DROP),
        ("sentiment_alert", 0.91, Verdict.DROP),
        ("sentiment_alert", 0.7, Verdict.REVIEW),
        ("unknown_type", 0.01, Verdict.REVIEW),
    ],
)
def test_the_matrix_decides_by_the_types_rule(insight_type, confidence, verdict):
    assert AUTO.verdict(insight_type, confidence)[0] is verdict


def test_an_automatic_decision_names_the_rule_that_made_it():
    assert AUTO.verdict("compliance_flag", 0.99)[1] == (
        "confidence matrix strict, compliance_flag: auto-approve at confidence >= 0.95"
    )
    assert AUTO.verdict("compliance_flag", 0.1)[1] == (
        "confidence matrix strict, compliance_flag: auto-filter below confidence 0.3"
    )
    assert AUTO.verdict("compliance_flag", 0.5)[1] == ""


def test_an_auto_filtering_rule_asks_the_server_for_everything_below_its_minimum():
    assert AUTO.envelope(["compliance_flag"]) == (0.0, 1.0)
    assert AUTO.envelope(["sentiment_alert"]) == (0.5, 0.9)


@pytest.mark.parametrize(
    "text",
    ["plain text", " lead", "trail ", "a  b", "a\u00a0b", "a\u2028b", "tab\there", "é ü ✓", ""],
)
def test_snippets_skip_the_regexes_only_where_they_would_change_nothing(text):
    import re

    reference = re.sub(r"\s+", " ", re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)).strip()
    assert extract_snippet({"text": text}) == reference
