"""An audit entry's difference marks exactly the fields that changed."""

import pytest
from django.urls import reverse

from audit.trail.diffs import field_changes
from audit.trail.record import audit_record
from tests.factories import make_knowledge_query

pytestmark = pytest.mark.django_db


def test_exactly_the_changed_fields_are_marked():
    before = {
        "name": "default",
        "minimum": 0.4,
        "rules": [{"type": "a", "weight": 0.9}],
        "on": True,
    }
    after = {"name": "default", "minimum": 0.5, "rules": [{"type": "a", "weight": 1.0}], "new": 1}
    rows = {row.field: row for row in field_changes(before, after)}
    assert {name for name, row in rows.items() if row.changed} == {
        "minimum",
        "rules no. 1: weight",
        "on",
        "new",
    }
    assert (rows["minimum"].old, rows["minimum"].new) == ("0.4", "0.5")
    assert (rows["on"].old, rows["on"].new) == ("yes", "")
    assert (rows["new"].old, rows["new"].new) == ("", "1")
    assert not rows["name"].changed and not rows["rules no. 1: type"].changed
    assert (rows["minimum"].how, rows["on"].how, rows["new"].how) == ("changed", "removed", "added")


def test_items_of_a_list_are_compared_by_what_they_are_not_their_place():
    rule = lambda kind, weight: {"insight_type": kind, "weight": weight, "min_confidence": 0.0}  # noqa: E731
    before = {"rules": [rule("compliance_flag", 1.0), rule("sentiment_alert", 0.5)]}
    after = {
        "rules": [
            rule("a_new_type", 0.8),
            rule("compliance_flag", 1.0),
            rule("sentiment_alert", 0.5),
        ]
    }
    changed = [(row.field, row.how) for row in field_changes(before, after) if row.changed]
    assert changed == [
        ("rules for a_new_type: weight", "added"),
        ("rules for a_new_type: min confidence", "added"),
    ]


def test_a_creation_and_a_deletion_mark_every_field():
    assert all(row.changed for row in field_changes(None, {"a": 1, "b": None}))
    assert [row.old for row in field_changes({"a": None}, None)] == ["none"]
    assert field_changes(None, None) == []


def test_a_value_that_becomes_none_is_a_change():
    (row,) = field_changes({"a": 0}, {"a": None})
    assert row.changed and (row.old, row.new) == ("0", "none")


def test_the_admin_shows_the_difference_as_a_table_with_outside_text_escaped(client, gov_admin):
    entry = audit_record(
        action="matrix.change",
        actor=gov_admin,
        object_type="confidencematrix",
        before={"minimum": 0.4, "name": "<b>x</b>"},
        after={"minimum": 0.5, "name": "<b>x</b>"},
    )
    client.force_login(gov_admin)
    page = client.get(reverse("admin:audit_auditentry_change", args=[entry.pk])).content.decode()
    assert '<table class="diff">' in page
    assert '<tr class="changed"><th scope="row">minimum</th><td>0.4</td><td>0.5</td>' in page
    assert '<tr class="same"><th scope="row">name</th><td>&lt;b&gt;x&lt;/b&gt;</td>' in page
    assert "<b>x</b>" not in page


def test_knowledge_results_show_as_a_table_with_words(client, gov_admin):
    query = make_knowledge_query(
        results=[
            {"rank": 1, "title": "Refunds", "confidence": 0.91234, "outcome": "passed"},
            {
                "rank": None,
                "title": "Old",
                "confidence": 0.2,
                "outcome": "below_confidence",
                "reason": "0.20 is under 0.50",
            },
        ]
    )
    client.force_login(gov_admin)
    url = reverse("admin:streams_knowledgequery_change", args=[query.pk])
    page = client.get(url).content.decode()
    assert '<table class="results">' in page
    assert "<td>Refunds</td>" in page and ">0.912</td>" in page
    assert "<td>Below the minimum confidence</td><td>0.20 is under 0.50</td>" in page
