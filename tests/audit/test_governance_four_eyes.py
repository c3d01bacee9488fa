"""Four-eyes on every governance setting, not only streams and matrices: retention, legal
holds (placing, and lifting with a reason), oversight and stream sampling shares, type labels
and reason codes. One admin's save proposes; a second admin's acceptance applies, audited."""

import pytest
from django.urls import reverse

from audit.oversight.models import OversightSettings
from audit.trail.models import AuditEntry, LegalHold, RetentionPolicy
from audit.vocabulary import ReasonCode, TypeLabel
from streams.config import changes
from streams.models import ChangeRequest

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("four_eyes")]


def accepted(change_request, by):
    changes.change_request_accept(change_request=change_request, by=by)
    change_request.refresh_from_db()
    assert change_request.status == ChangeRequest.Status.ACCEPTED


def test_retention_shortened_by_one_admin_waits_for_a_second(client, gov_admin, admin2):
    policy = RetentionPolicy.current()
    data = {**policy.audit_snapshot(), "insight_months": 7}
    client.force_login(gov_admin)
    url = reverse("admin:audit_retentionpolicy_change", args=[policy.pk])
    response = client.post(url, data)
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.insight_months != 7  # nothing changed yet
    request = ChangeRequest.objects.get()
    assert request.summary == "Retention policy"
    assert request.changes[0]["after"]["insight_months"] == 7
    with pytest.raises(changes.ChangeRefused, match="a second governance admin"):
        changes.change_request_accept(change_request=request, by=gov_admin)
    accepted(request, admin2)
    policy.refresh_from_db()
    assert policy.insight_months == 7
    entry = AuditEntry.objects.filter(object_type="audit.retentionpolicy").latest("id")
    assert entry.after["insight_months"] == 7 and entry.actor_label == "ada"


def test_oversight_shares_and_labels_in_the_list_are_proposals_too(client, gov_admin, admin2):
    settings_row = OversightSettings.current()
    client.force_login(gov_admin)
    url = reverse("admin:audit_oversightsettings_change", args=[settings_row.pk])
    data = {**settings_row.audit_snapshot(), "approval_share": 100}
    assert client.post(url, data).status_code == 302
    label = TypeLabel.objects.get(code="compliance_flag")
    changelist = reverse("admin:audit_typelabel_changelist")
    labels = list(TypeLabel.objects.order_by("code"))  # the list's own order
    form = {
        "form-TOTAL_FORMS": str(len(labels)),
        "form-INITIAL_FORMS": str(len(labels)),
        "_save": "Save",
    }
    for n, row in enumerate(labels):
        form[f"form-{n}-id"] = str(row.pk)
        form[f"form-{n}-label"] = "Low-priority note (ignore)" if row.pk == label.pk else row.label
    response = client.get(changelist)
    assert response.status_code == 200
    assert client.post(changelist, form).status_code == 302
    label.refresh_from_db()
    assert label.label != "Low-priority note (ignore)"
    assert OversightSettings.current().approval_share != 100
    share, relabel = ChangeRequest.objects.order_by("id")
    assert relabel.summary == "Insight type label compliance_flag"
    accepted(relabel, admin2)
    label.refresh_from_db()
    assert label.label == "Low-priority note (ignore)"
    accepted(share, admin2)
    assert OversightSettings.current().approval_share == 100


def test_a_reason_code_retired_by_one_admin_is_not_retired_yet(client, gov_admin, admin2):
    code = ReasonCode.objects.filter(active=True).first()
    client.force_login(gov_admin)
    url = reverse("admin:audit_reasoncode_change", args=[code.pk])
    data = {"code": code.code, "label": code.label, "position": code.position}  # active off
    assert client.post(url, data).status_code == 302
    code.refresh_from_db()
    assert code.active
    accepted(ChangeRequest.objects.get(), admin2)
    code.refresh_from_db()
    assert not code.active


def test_a_legal_hold_is_placed_and_lifted_by_two_admins_and_lifting_says_why(
    client, gov_admin, admin2
):
    client.force_login(gov_admin)
    add = reverse("admin:audit_legalhold_add")
    placed = client.post(add, {"scope": "all", "reason": "Complaint FOS-2026-118"})
    assert placed.status_code == 302 and not LegalHold.objects.exists()
    accepted(ChangeRequest.objects.get(), admin2)
    hold = LegalHold.objects.get()
    assert hold.placed_by == gov_admin and hold.released_at is None

    changelist = reverse("admin:audit_legalhold_changelist")
    action = {"action": "release_selected", "_selected_action": [str(hold.pk)]}
    asked = client.post(changelist, action)
    assert asked.status_code == 200  # the reason is asked for first
    assert "Ask a second admin to lift it" in asked.content.decode()
    refused = client.post(changelist, {**action, "apply": "1", "reason": ""})
    assert refused.status_code == 200 and "This field is required" in refused.content.decode()
    proposed = client.post(changelist, {**action, "apply": "1", "reason": "Complaint closed"})
    assert proposed.status_code == 302
    hold.refresh_from_db()
    assert hold.released_at is None  # not lifted by one admin
    lift = ChangeRequest.objects.filter(status="pending").get()
    accepted(lift, admin2)
    hold.refresh_from_db()
    assert hold.released_at is not None and hold.release_reason == "Complaint closed"
    entry = AuditEntry.objects.filter(object_type="audit.legalhold").latest("id")
    assert entry.action == "legal_hold.lift" and entry.after["release_reason"] == "Complaint closed"
