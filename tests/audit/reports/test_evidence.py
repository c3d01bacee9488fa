"""The evidence pack: one signed ZIP with the period's oversight, decisions, people,
incidents, configuration and trail, checked offline member by member."""

import csv
import io
import json
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.oversight import second_review
from audit.oversight.models import OversightSettings
from audit.reports import evidence
from audit.review.services import item_approve, item_reject
from audit.trail.models import AuditEntry
from audit.trail.signing import public_key_text
from streams.config.services import config_change_report
from streams.models import ConfidenceMatrix, QuarantinedFrame
from tests.factories import make_insight, make_matrix, make_stream

pytestmark = pytest.mark.django_db


@pytest.fixture
def month(officer, django_user_model):
    """A month's record: people's and a rule's decisions, a blind second review, a matrix
    change through the trail, a quarantined frame."""
    from django.contrib.auth.models import Group

    second = django_user_model.objects.create_user(username="oona", password="pw")
    second.groups.add(Group.objects.get(name="Compliance officers"))
    OversightSettings.objects.update_or_create(
        pk=1, defaults={"approval_share": 100.0, "rejection_share": 0.0}
    )
    matrix = make_matrix(name="strict", default_weight=0.5)
    stream = make_stream(name="voice-eu", matrix=matrix)
    start = timezone.now() - timedelta(hours=1)
    item_approve(item=make_insight(stream=stream, insight_type="compliance_flag"), by=officer)
    item_reject(item=make_insight(stream=stream), by=officer, reason_code="other")
    make_insight(
        stream=stream,
        review_status="approved",
        reviewed_at=timezone.now(),
        review_rule="confidence matrix strict version 1, compliance_flag: auto-approve",
    )
    review = second_review.next_for(second)
    second_review.second_review_decide(review=review, by=second, decision="approve")
    before = matrix.audit_snapshot()
    ConfidenceMatrix.objects.filter(pk=matrix.pk).update(default_weight=0.9)
    matrix.refresh_from_db()
    config_change_report(
        obj=matrix,
        verb="update",
        before=before,
        after=matrix.audit_snapshot(),
        actor=officer,
        source="admin",
    )
    QuarantinedFrame.objects.create(
        stream=stream, received_at=timezone.now(), reason="not JSON", raw="{", raw_size=1
    )
    return start, timezone.now() + timedelta(minutes=1)


def read_csv(pack: zipfile.ZipFile, name: str) -> list[dict]:
    text = pack.read(name).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def test_the_pack_holds_each_member_and_verifies(month, tmp_path, capsys):
    since, until = month
    path = tmp_path / "pack.zip"
    manifest = evidence.generate(path, since=since, until=until, actor_label="test")
    assert [m["name"] for m in manifest["members"]] == list(evidence.MEMBERS)
    pack = zipfile.ZipFile(path)
    assert sorted(pack.namelist()) == sorted(evidence.MEMBERS)

    decisions = read_csv(pack, "decisions.csv")
    by_who = sorted((row["Decided by"] or "rule", row["Outcome"]) for row in decisions)
    assert by_who == [("olivia", "approved"), ("olivia", "rejected"), ("rule", "approved")]
    approved = next(
        r for r in decisions if r["Decided by"] == "olivia" and r["Outcome"] == "approved"
    )
    assert (approved["Second review"], approved["Second officer's answer"]) == (
        "agreed",
        "approved",
    )
    assert {r["Type"] for r in decisions} >= {"Compliance flag"}

    people = {row["Person"]: row for row in read_csv(pack, "people.csv")}
    assert people["olivia"]["Decisions in the period"] == "2"
    assert people["oona"]["Second reviews in the period"] == "1"
    assert people["olivia"]["Roles"] == "Compliance officers"

    oversight = read_csv(pack, "oversight.csv")
    olivia = next(row for row in oversight if row["officer"] == "olivia")
    assert olivia["decisions"] == "2" and olivia["second_review_pairs"] == "1"

    incidents = read_csv(pack, "incidents.csv")
    assert ("Frames quarantined", "voice-eu", "not JSON", "1") in {
        (r["Kind"], r["Where"], r["What"], r["Count"]) for r in incidents
    }

    start = json.loads(pack.read("configuration-start.json"))
    end = json.loads(pack.read("configuration-end.json"))
    weight = lambda conf: next(  # noqa: E731
        m["default_weight"]
        for m in conf["settings"]["confidence matrices"]
        if m["name"] == "strict"
    )
    assert (weight(start), weight(end)) == (0.5, 0.9)

    system = json.loads(pack.read("system.json"))
    assert system["genesys"][0]["streams"][0]["name"] == "voice-eu"
    assert "Compliance officers" in system["roles"]
    verification = json.loads(pack.read("verification.json"))
    assert verification["intact"] is True and verification["entries_checked"] > 0
    trail = read_csv(pack, "audit-trail.csv")
    assert any(row["Action"] == "insight.approve" for row in trail)

    report = pack.read("report.html").decode()
    assert '<a href="decisions.csv">Decided by people</a><b>2</b>' in report
    assert "Frames quarantined" in report and "<b>intact</b>" in report
    for name in evidence.MEMBERS[1:]:
        assert f'href="{name}"' in report

    # The pack's record in the trail names its digest.
    entry = AuditEntry.objects.get(action="export.evidence_pack")
    assert entry.after["sha256"] == manifest["sha256"]

    manifest_path = Path(f"{path}.manifest.json")
    call_command("verify_export", str(path), str(manifest_path))
    assert "export verified" in capsys.readouterr().out


def test_one_changed_byte_in_any_member_is_named(month, tmp_path):
    since, until = month
    path = tmp_path / "pack.zip"
    evidence.generate(path, since=since, until=until, actor_label="test")
    manifest_path = f"{path}.manifest.json"
    for name in ("decisions.csv", "report.html"):
        changed = tmp_path / f"changed-{name}.zip"
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(changed, "w") as target:
            for member in source.namelist():
                data = source.read(member)
                if member == name:
                    data = data[:-2] + bytes([data[-2] ^ 1]) + data[-1:]
                target.writestr(member, data)
        with pytest.raises(CommandError, match=f"member {name} does not match"):
            call_command("verify_export", str(changed), manifest_path)
        # The standalone verifier says the same, with Python and cryptography alone.
        offline = Path(evidence.__file__).parents[1] / "trail" / "offline.py"
        run = subprocess.run(
            [
                sys.executable,
                str(offline),
                str(changed),
                manifest_path,
                "--public-key",
                public_key_text(),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 1 and f"member {name} does not match" in run.stderr


def test_the_command_writes_the_pack_and_says_so(month, tmp_path, capsys):
    path = tmp_path / "november.zip"
    call_command("evidence", "--since", "2026-01-01", "--until", "2027-01-01", "-o", str(path))
    out = capsys.readouterr().out
    assert "evidence pack written to november.zip (12 files" in out
    assert Path(f"{path}.manifest.json").exists()
    entry = AuditEntry.objects.get(action="export.evidence_pack")
    assert entry.actor_label.startswith("evidence (command line) by ")
    with pytest.raises(CommandError, match="--since must be before --until"):
        call_command("evidence", "--since", "2026-02-01", "--until", "2026-01-01", "-o", "x.zip")
    with pytest.raises(CommandError, match="is not a date"):
        call_command("evidence", "--since", "last week", "--until", "2026-01-01", "-o", "x.zip")


def test_no_signing_key_is_a_clear_error_before_any_work(settings, tmp_path):
    settings.AUDIT_SIGNING_KEY = ""
    with pytest.raises(CommandError, match="AUDIT_SIGNING_KEY is not set"):
        call_command(
            "evidence",
            "--since",
            "2026-01-01",
            "--until",
            "2026-02-01",
            "-o",
            str(tmp_path / "p.zip"),
        )
    assert not (tmp_path / "p.zip").exists()


@pytest.mark.django_db(transaction=True)
def test_an_auditor_asks_for_a_pack_in_the_browser_and_downloads_it(client, auditor, officer):
    import time as clock

    from django.urls import reverse

    from audit.reports.models import EvidencePack

    client.force_login(officer)
    assert client.get(reverse("evidence")).status_code == 403
    client.force_login(auditor)
    page = client.get(reverse("evidence")).content.decode()
    assert "No evidence pack has been written yet" in page
    today = timezone.localdate()
    bad = client.post(reverse("evidence"), {"since": today, "until": today - timedelta(days=1)})
    assert "The first day is after the last: swap them." in bad.content.decode()
    response = client.post(
        reverse("evidence"), {"since": today - timedelta(days=30), "until": today}
    )
    assert response.status_code == 303
    pack = EvidencePack.objects.get()
    deadline = clock.monotonic() + 300  # a condition, not a speed: the pack is written
    while pack.status not in ("done", "failed") and clock.monotonic() < deadline:
        clock.sleep(0.1)
        pack.refresh_from_db()
    assert pack.status == "done", pack.error
    assert pack.requested_by == auditor and pack.done == len(evidence.MEMBERS)
    page = client.get(reverse("evidence")).content.decode()
    assert reverse("evidence-download", args=[pack.pk, "zip"]) in page
    assert 'http-equiv="refresh"' not in page  # nothing left to follow
    download = client.get(reverse("evidence-download", args=[pack.pk, "zip"]))
    body = b"".join(download.streaming_content)
    assert "report.html" in zipfile.ZipFile(io.BytesIO(body)).namelist()
    import hashlib

    assert hashlib.sha256(body).hexdigest() == pack.sha256
    manifest = json.loads(
        b"".join(
            client.get(reverse("evidence-download", args=[pack.pk, "manifest"])).streaming_content
        )
    )
    assert manifest["sha256"] == pack.sha256
    downloads = AuditEntry.objects.filter(action="export.download", object_id="evidence")
    assert downloads.count() == 2 and downloads.first().actor == auditor
    made = AuditEntry.objects.get(action="export.evidence_pack")
    assert made.actor == auditor


def test_the_roster_shows_training_and_the_incidents_people_recorded(month, officer, tmp_path):
    from audit.oversight.models import Incident, TrainingAttestation

    since, until = month
    today = timezone.localdate()
    TrainingAttestation.objects.create(
        person=officer,
        course="AI oversight basics",
        completed_on=today - timedelta(days=400),
        expires_on=today - timedelta(days=30),
        evidence="LMS 4411",
    )
    Incident.objects.create(
        title="Flags approved by a wrong threshold",
        occurred_at=since + timedelta(minutes=5),
        detected_at=since + timedelta(minutes=30),
        what_happened="A rule auto-approved 40 flags.",
        affected="stream voice-eu",
    )
    path = tmp_path / "pack.zip"
    evidence.generate(path, since=since, until=until, actor_label="test")
    pack = zipfile.ZipFile(path)
    olivia = next(r for r in read_csv(pack, "people.csv") if r["Person"] == "olivia")
    assert (olivia["Training in force at the end"], olivia["Training overdue"]) == ("no", "yes")
    assert "AI oversight basics: completed" in olivia["Trainings"]
    incidents = read_csv(pack, "incidents.csv")
    recorded = next(r for r in incidents if r["Kind"] == "Serious incident recorded by people")
    assert recorded["What"].startswith("Flags approved by a wrong threshold: A rule")
    assert "provider not informed; open" in recorded["What"]
    assert "Serious incidents recorded by people" in pack.read("report.html").decode()


def test_last_month_s_pack_is_written_once_into_the_folder(settings, tmp_path):
    from datetime import datetime

    from audit.reports import packs

    assert packs.monthly_pack() is None  # not asked for
    settings.EVIDENCE_MONTHLY_DIR = str(tmp_path)
    now = timezone.make_aware(datetime(2026, 12, 2, 9, 0))
    path = packs.monthly_pack(now)
    assert path.name == "assistgov-evidence-2026-11.zip"
    manifest = json.loads(Path(f"{path}.manifest.json").read_text())
    assert manifest["period"]["since"].startswith("2026-11-01")
    assert manifest["period"]["until"].startswith("2026-12-01")
    assert packs.monthly_pack(now) is None  # already there
    entry = AuditEntry.objects.get(action="export.evidence_pack")
    assert entry.actor_label == "Monthly evidence pack"
    assert entry.after["manifest_sha256"] and entry.after["sha256"] == manifest["sha256"]


@pytest.mark.usefixtures("four_eyes")
def test_changes_retention_and_the_webhook_of_a_pack(month, gov_admin, admin2, tmp_path):
    from audit.trail.models import LegalHold
    from streams.config import changes
    from streams.models import WebhookDelivery, WebhookEndpoint

    since, until = month
    matrix = ConfidenceMatrix.objects.get(name="strict")
    before = matrix.audit_snapshot()
    entry = changes.change_entry(matrix, before, {**before, "default_weight": 0.3})
    request = changes.change_request_create(kind="change", changes=[entry], author=gov_admin)
    changes.change_request_decline(change_request=request, by=admin2, comment="Too low")
    LegalHold.objects.create(scope="all", reason="Complaint FOS-2026-118", placed_by=gov_admin)
    hook = WebhookEndpoint(
        name="archive", url="https://archive.bank.example/hook", events=["evidence.pack"]
    )
    hook.set_secret("whsec_" + "A" * 44)
    hook.save()
    path = tmp_path / "pack.zip"
    manifest = evidence.generate(path, since=since, until=until + timedelta(minutes=5))
    pack = zipfile.ZipFile(path)
    [declined] = read_csv(pack, "change-requests.csv")
    assert (declined["Author"], declined["Status"], declined["Decided by"]) == (
        "adam",
        "Declined",
        "ada",
    )
    assert (
        declined["What changed"] == "Confidence matrix strict: default weight changed (0.9 -> 0.3)"
    )
    retention = read_csv(pack, "retention.csv")
    assert {r["What"] for r in retention} >= {"Policy in force", "Legal hold"}
    hold = next(r for r in retention if r["What"] == "Legal hold")
    assert hold["Detail"] == "Complaint FOS-2026-118 (active)" and hold["Who"] == "adam"
    [delivery] = WebhookDelivery.objects.filter(event_type="evidence.pack")
    assert delivery.payload["data"]["sha256"] == manifest["sha256"]
    assert delivery.payload["data"]["signature"] == manifest["signature"]
