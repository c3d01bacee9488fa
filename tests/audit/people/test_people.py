"""Governance admins manage people's roles and activation under four-eyes; passwords never
travel with a change."""

import json

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from audit.trail.models import AuditEntry
from streams.config import changes
from streams.models import ChangeRequest

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("four_eyes")]


def person_form(user, roles, *, active=True):
    return {
        "first_name": "Olivia",
        "last_name": "Officer",
        "email": "olivia@bank.example",
        "is_active": "on" if active else "",
        "groups": [Group.objects.get(name=role).pk for role in roles],
    }


def test_a_role_granted_waits_for_a_second_admin(client, gov_admin, admin2, officer):
    client.force_login(gov_admin)
    url = reverse("admin:audit_person_change", args=[officer.pk])
    page = client.get(url).content.decode()
    assert "Compliance officers" in page and 'name="password"' not in page
    response = client.post(url, person_form(officer, ["Compliance officers", "Governance admins"]))
    assert response.status_code == 302, response.content.decode()[:2000]
    officer.refresh_from_db()
    assert not officer.groups.filter(name="Governance admins").exists()
    change_request = ChangeRequest.objects.get()
    [change] = change_request.changes
    assert change["after"]["roles"] == ["Compliance officers", "Governance admins"]
    assert officer.password not in json.dumps(change_request.changes)
    with pytest.raises(changes.ChangeRefused, match="second governance admin"):
        changes.change_request_accept(change_request=change_request, by=gov_admin)
    changes.change_request_accept(change_request=change_request, by=admin2)
    officer.refresh_from_db()
    assert set(officer.groups.values_list("name", flat=True)) == {
        "Compliance officers",
        "Governance admins",
    }
    assert officer.first_name == "Olivia" and officer.check_password("pw")
    entry = AuditEntry.objects.get(action="person.update")
    assert entry.actor == admin2 and entry.after["roles"][1] == "Governance admins"


def test_deactivating_a_person_waits_too_and_nobody_is_deleted(client, gov_admin, admin2, officer):
    client.force_login(gov_admin)
    url = reverse("admin:audit_person_change", args=[officer.pk])
    client.post(url, person_form(officer, ["Compliance officers"], active=False))
    officer.refresh_from_db()
    assert officer.is_active
    changes.change_request_accept(change_request=ChangeRequest.objects.get(), by=admin2)
    officer.refresh_from_db()
    assert not officer.is_active
    assert client.get(reverse("admin:audit_person_delete", args=[officer.pk])).status_code == 403
    assert client.get(reverse("admin:audit_person_add")).status_code == 403
