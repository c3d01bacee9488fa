"""Genesys' own recommended knowledge confidence thresholds: a new matrix starts from them,
and a knowledge rule set below them is warned about."""

from django.contrib.messages import get_messages
from django.urls import reverse

from streams.genesys.scoring import below_genesys
from streams.models import ConfidenceMatrix
from tests.streams.config.test_admin import matrix_form


def test_a_new_matrix_offers_genesys_thresholds_for_knowledge(admin_client):
    page = admin_client.get(reverse("admin:streams_confidencematrix_add")).content.decode()
    assert 'name="rules-0-insight_type" value="knowledge.search"' in page
    assert 'name="rules-1-insight_type" value="knowledge_recommendation"' in page
    assert 'name="rules-0-min_confidence" value="0.65"' in page


def test_the_offered_rules_are_kept_as_offered_or_removed_when_emptied(admin_client):
    offered = [
        ("knowledge.search", "0.65", "1", "1"),
        ("knowledge_recommendation", "0.65", "1", "1"),
    ]
    data = matrix_form(offered)
    admin_client.post(reverse("admin:streams_confidencematrix_add"), data)
    matrix = ConfidenceMatrix.objects.get(name="strict")
    assert sorted((r.insight_type, r.min_confidence) for r in matrix.rules.all()) == [
        ("knowledge.search", 0.65),
        ("knowledge_recommendation", 0.65),
    ]
    emptied = matrix_form([("knowledge.search", "0.65", "1", "1"), ("", "", "", "")])
    emptied["name"] = "lenient"
    admin_client.post(reverse("admin:streams_confidencematrix_add"), emptied)
    lenient = ConfidenceMatrix.objects.get(name="lenient")
    assert [r.insight_type for r in lenient.rules.all()] == ["knowledge.search"]


def test_a_knowledge_minimum_below_genesys_is_warned_about(admin_client):
    response = admin_client.post(
        reverse("admin:streams_confidencematrix_add"),
        matrix_form(
            [
                ("knowledge.search", "0.4", "1", "1"),
                ("knowledge_recommendation", "0.55", "1", "1"),
                ("sentiment_alert", "0.1", "1", "1"),
            ]
        ),
    )
    warnings = [str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "warning"]
    assert len(warnings) == 2
    assert any(
        "knowledge.search rule's minimum confidence 0.4 is below every" in w for w in warnings
    )
    assert any("0.55 is below Genesys' recommendation for content-search" in w for w in warnings)


def test_below_genesys_reads_each_threshold():
    assert below_genesys("knowledge.search", 0.65) == ""
    assert below_genesys("knowledge.search", 0.7) == ""
    assert "without content search only" in below_genesys("knowledge_recommendation", 0.5)
    assert "0.5 for knowledge bases without content search" in below_genesys(
        "knowledge.search", 0.49
    )
    assert below_genesys("intent", 0.0) == ""
