"""Governance admins invite people and manage their roles and activation under four-eyes;
passwords never travel with a change, and nobody sets another person's: an invited person
chooses theirs from an invitation link."""

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


def test_a_person_is_invited_by_two_admins_and_chooses_their_own_password(
    client, gov_admin, admin2, officer
):
    from django.contrib.auth import get_user_model
    from django.test import Client

    client.force_login(gov_admin)
    form = {**person_form(None, ["Compliance officers"]), "username": "nina"}
    response = client.post(reverse("admin:audit_person_add"), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    User = get_user_model()
    assert not User.objects.filter(username="nina").exists()  # proposed, not made
    changes.change_request_accept(change_request=ChangeRequest.objects.get(), by=admin2)
    nina = User.objects.get(username="nina")
    assert not nina.has_usable_password() and nina.groups.get().name == "Compliance officers"
    assert AuditEntry.objects.get(action="person.create").actor == admin2
    listing = client.get(reverse("admin:audit_person_changelist")).content.decode()
    assert "invited, not signed in yet" in listing and "their invitation link" in listing

    # The link is made on request, as an audit entry; an officer cannot make one.
    url = reverse("admin:audit_person_invitation", args=[nina.pk])
    assert "Make their invitation link" in client.get(url).content.decode()
    page = client.post(url).content.decode()
    link = page.split('id="invitation-link" class="shown-once">')[1].split("<")[0]
    assert link.startswith("http://testserver/account/welcome/")
    entry = AuditEntry.objects.get(action="person.invitation")
    assert entry.actor == gov_admin and entry.object_repr == "nina"
    assert link.rsplit("/", 2)[-2] not in json.dumps([entry.after, entry.object_repr])
    intruder = Client()
    intruder.force_login(officer)
    assert intruder.get(url).status_code in (302, 403)
    assert intruder.post(url).status_code in (302, 403)

    # Nina opens it, chooses her password, signs in; the link then no longer works.
    nina_client = Client()
    form_page = nina_client.get(link, follow=True)
    assert "Choose the password" in form_page.content.decode()
    password = "a long Passphrase for nina 42"
    done = nina_client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": password, "new_password2": password},
    )
    assert done.status_code == 302 and done.url == reverse("login")
    # The sign-in page says it worked, once.
    assert "Your password is set: sign in with it." in nina_client.get(done.url).content.decode()
    nina.refresh_from_db()
    assert nina.check_password(password)
    assert AuditEntry.objects.get(action="security.password_chosen").actor == nina
    assert "no longer works" in Client().get(link, follow=True).content.decode()
    signed_in = nina_client.post(reverse("login"), {"username": "nina", "password": password})
    assert signed_in.status_code == 302
    listing = client.get(reverse("admin:audit_person_changelist")).content.decode()
    assert (
        "invited, not signed in yet" not in listing
        and '<td class="field-sign_in">password' in listing
    )
    again = client.get(url, follow=True).content.decode()
    assert "needs no invitation" in again
