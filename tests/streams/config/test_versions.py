"""Versions: the settings that decide what people see are versioned, and every item records
the version that judged it, so the rule shown beside it is the rule in force at the time."""

import json
import time

import pytest
from django.urls import reverse

from audit.oversight.models import OversightSettings
from audit.review.exports import DECISION_COLUMNS
from streams.config import changes, versions
from streams.genesys.frames import Frame
from streams.ingest.records import process_frame, read_seed_event
from streams.ingest.store import store_batch
from streams.models import ConfigVersion, Insight
from streams.worker.specs import stream_spec
from tests.audit.reports.test_exports import download, read
from tests.factories import make_matrix, make_stream
from tests.streams.config.test_change_requests import propose_rule_change

pytestmark = pytest.mark.django_db


def arrive(stream, external_id: str, confidence: float):
    """One seed event stored through the worker's path, judged by the stream's spec now."""
    spec = stream_spec(stream)
    event = {
        "type": "agentassist.insight",
        "id": external_id,
        "interaction_id": "conv-1",
        "insight_type": "compliance_flag",
        "confidence": confidence,
        "timestamp": "2026-11-21T10:00:00Z",
        "content": {"text": "The agent read the disclosure"},
    }
    record = process_frame(
        Frame(json.dumps(event), time.time()),
        read=read_seed_event,
        matrix=spec.matrix,
        max_frame_bytes=65536,
    )
    store_batch(stream.pk, [record])
    return Insight.objects.get(external_id=external_id)


def test_an_unchanged_setting_keeps_its_version_and_a_change_numbers_the_next():
    matrix = make_matrix(name="strict", rules=[("compliance_flag", 0.0, 1.0, 1.0)])
    first = versions.current(matrix)
    assert versions.current(matrix) == first
    assert (first.number, first.name) == (1, "Confidence matrix strict")
    matrix.rules.update(min_confidence=0.3)
    second = versions.current(matrix)
    assert second.number == 2
    assert second.snapshot["rules"][0]["min_confidence"] == 0.3
    assert first.snapshot["rules"][0]["min_confidence"] == 0.0  # the old one is kept as it was


@pytest.mark.usefixtures("four_eyes")
def test_an_item_keeps_the_rule_that_judged_it_after_the_matrix_changes(
    client, gov_admin, admin2, officer
):
    matrix = make_matrix(name="strict", rules=[("compliance_flag", 0.0, 1.0, 1.0)])
    stream = make_stream(matrix=matrix)
    before = arrive(stream, "evt-old", 0.7)
    assert before.review_status == "pending"

    change_request = propose_rule_change(client, gov_admin, matrix)  # auto-approve at 0.5
    changes.change_request_accept(change_request=change_request, by=admin2)
    accepted = versions.latest(matrix)
    assert (accepted.number, accepted.source, accepted.actor_label) == (
        2,
        f"change request {change_request.pk}",
        "ada",
    )
    after = arrive(stream, "evt-new", 0.7)
    assert after.review_status == "approved"
    assert after.rule_version == accepted
    assert after.review_rule.startswith("confidence matrix strict version 2, ")

    client.force_login(officer)
    old = client.get(reverse("review-item-context", args=["insight", before.pk])).json()
    assert old["rule"].startswith("Confidence matrix strict, version 1, Compliance flag: 0.00")
    assert "approved automatically" not in old["rule"]  # version 1 had no auto-approval
    assert [(v["number"], v["by"]) for v in old["rule_since"]] == [
        (2, f"change request {change_request.pk} by ada")
    ]
    new = client.get(reverse("review-item-context", args=["insight", after.pk])).json()
    assert "version 2" in new["rule"] and "approved automatically at 0.50" in new["rule"]
    assert new["rule_since"] == []


def test_the_insights_export_names_the_version_that_judged_each_item(client, auditor):
    stream = make_stream()
    item = arrive(stream, "evt-1", 0.9)
    client.force_login(auditor)
    rows = read(download(client.get(reverse("export-csv", args=["insights"]))))
    [row] = [r for r in rows if r["Insight id"] == str(item.pk)]
    name = stream.confidence_matrix.name
    assert (row["Judged by"], row["Judged by version"]) == (f"Confidence matrix {name}", "1")
    assert "Judged by version" in [label for label, _ in DECISION_COLUMNS]


def test_a_knowledge_answer_records_its_stream_s_version():
    from streams.knowledge.specs import knowledge_spec
    from tests.factories import make_knowledge_stream

    stream = make_knowledge_stream()
    spec = knowledge_spec(stream)
    version = ConfigVersion.objects.get(pk=spec.version_id)
    assert version.snapshot["confidence_threshold"] == stream.confidence_threshold
    stream.confidence_threshold = 0.9
    stream.save()
    assert knowledge_spec(stream).version_id != version.pk


def test_an_oversight_change_is_a_new_version_of_the_sampling_plan(gov_admin):
    from streams.config.services import config_change_report

    settings = OversightSettings.current()
    before = settings.audit_snapshot()
    settings.approval_share = 50.0
    settings.save()
    config_change_report(
        obj=settings,
        verb="update",
        before=before,
        after=settings.audit_snapshot(),
        actor=gov_admin,
        source="admin",
    )
    version = versions.latest(settings)
    assert version.snapshot["approval_share"] == 50.0
    assert (version.name, version.actor_label) == ("Oversight settings", "adam")


def test_a_version_s_page_says_what_changed_from_the_one_before(client, gov_admin, auditor):
    matrix = make_matrix(name="strict", rules=[("compliance_flag", 0.0, 1.0, 1.0)])
    versions.current(matrix)
    matrix.rules.update(auto_approve_at=0.9)
    second = versions.current(matrix)
    for person in (gov_admin, auditor):
        client.force_login(person)
        page = client.get(reverse("admin:streams_configversion_change", args=[second.pk]))
        assert page.status_code == 200
        text = page.content.decode()
        assert "auto approve at" in text and 'class="changed"' in text
        assert "From this version" in text
    client.force_login(auditor)
    listing = client.get(reverse("admin:streams_configversion_changelist")).content.decode()
    assert "Confidence matrix strict" in listing
