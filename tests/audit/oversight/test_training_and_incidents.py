"""The overseers' training (recorded, warned of, required when oversight says so) and the
serious-incident register (recorded by one admin, closed by two)."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from audit.oversight.models import Incident, OversightSettings, TrainingAttestation
from audit.review.services import item_approve
from audit.trail.models import AuditEntry
from streams.config import changes
from streams.models import ChangeRequest
from tests.factories import make_insight

pytestmark = pytest.mark.django_db


def attest(client, gov_admin, person, *, completed, expires):
    client.force_login(gov_admin)
    response = client.post(
        reverse("admin:audit_trainingattestation_add"),
        {
            "person": person.pk,
            "course": "AI oversight basics",
            "completed_on": completed.isoformat(),
            "expires_on": expires.isoformat(),
            "evidence": "LMS record 4411",
        },
    )
    assert response.status_code == 302, response.content.decode()[:1500]


def test_an_expired_training_is_warned_of_and_blocks_deciding_when_required(
    client, gov_admin, officer
):
    today = timezone.localdate()
    attest(
        client,
        gov_admin,
        officer,
        completed=today - timedelta(days=400),
        expires=today - timedelta(days=35),
    )
    attestation = TrainingAttestation.objects.get()
    assert attestation.recorded_by == gov_admin
    assert AuditEntry.objects.filter(action="training_attestation.create").exists()

    client.force_login(officer)
    page = client.get(reverse("dashboard")).content.decode()
    expired = (today - timedelta(days=35)).isoformat()
    assert f"Your training &#x27;AI oversight basics&#x27; expired on {expired}" in page
    assert "ask a governance admin to record its renewal" in page
    item_approve(item=make_insight(), by=officer)  # warned, not blocked

    OversightSettings.objects.update_or_create(pk=1, defaults={"training_required": True})
    with pytest.raises(ValidationError, match="deciding needs a current training"):
        item_approve(item=make_insight(), by=officer)
    page = client.get(reverse("dashboard")).content.decode()
    assert "you cannot decide until a governance admin records a current one" in page

    attest(client, gov_admin, officer, completed=today, expires=today + timedelta(days=365))
    item_approve(item=make_insight(), by=officer)
    client.force_login(officer)
    assert 'id="training-warning"' not in client.get(reverse("dashboard")).content.decode()


def test_an_officer_with_no_training_recorded_is_not_nagged_unless_it_is_required(client, officer):
    client.force_login(officer)
    assert 'id="training-warning"' not in client.get(reverse("dashboard")).content.decode()
    OversightSettings.objects.update_or_create(pk=1, defaults={"training_required": True})
    page = client.get(reverse("dashboard")).content.decode()
    assert "No training of yours is recorded" in page


@pytest.mark.usefixtures("four_eyes")
def test_an_incident_is_recorded_at_once_and_closed_by_two(client, gov_admin, admin2):
    now = timezone.now()
    client.force_login(gov_admin)
    response = client.post(
        reverse("admin:audit_incident_add"),
        {
            "title": "Compliance flags approved by a wrong threshold",
            "occurred_at_0": (now - timedelta(hours=3)).strftime("%Y-%m-%d"),
            "occurred_at_1": (now - timedelta(hours=3)).strftime("%H:%M:%S"),
            "detected_at_0": now.strftime("%Y-%m-%d"),
            "detected_at_1": now.strftime("%H:%M:%S"),
            "what_happened": "A rule auto-approved 40 flags below the agreed confidence; "
            "one quoted card 4111 1111 1111 1111.",
            "affected": "stream voice-eu",
            "actions": "Rule reverted; the 40 flags re-reviewed.",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    incident = Incident.objects.get()  # recorded at once: an incident does not wait
    assert (incident.status, incident.recorded_by) == ("open", gov_admin)
    assert ChangeRequest.objects.count() == 0

    changelist = reverse("admin:audit_incident_changelist")
    asked = client.post(changelist, {"action": "close_selected", "_selected_action": [incident.pk]})
    assert "Why it may be closed" in asked.content.decode()
    client.post(
        changelist,
        {
            "action": "close_selected",
            "_selected_action": [incident.pk],
            "apply": "1",
            "closing_note": "Cause fixed; Genesys support case 77 answered; "
            "the customer, jane.doe@example.com, was told.",
        },
    )
    incident.refresh_from_db()
    assert incident.status == "open"
    change_request = ChangeRequest.objects.get()
    with pytest.raises(changes.ChangeRefused, match="second governance admin"):
        changes.change_request_accept(change_request=change_request, by=gov_admin)
    changes.change_request_accept(change_request=change_request, by=admin2)
    incident.refresh_from_db()
    assert incident.status == "closed" and incident.closed_at is not None
    assert incident.closing_note.startswith("Cause fixed")
    # What people typed is kept with personal data taken out, everywhere it went.
    assert "4111 1111 1111 1111" not in incident.what_happened
    assert "****1111" in incident.what_happened
    kept = json.dumps(
        [
            list(AuditEntry.objects.values("before", "after")),
            list(ChangeRequest.objects.values("changes")),
        ],
        default=str,
    )
    assert "jane.doe@example.com" not in kept and "4111 1111 1111 1111" not in kept
    closed = AuditEntry.objects.get(action="serious_incident.close")
    assert closed.actor == admin2 and closed.after["status"] == "closed"
    # A closed incident is read-only.
    page = client.get(reverse("admin:audit_incident_change", args=[incident.pk]))
    assert 'name="title"' not in page.content.decode()
