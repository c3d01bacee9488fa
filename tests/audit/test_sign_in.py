"""Sign-in throttling: five failures for one user from one address lock that pair out for
fifteen minutes, on both login pages; each lock-out is audited; admins can unlock."""

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from audit.models import AuditEntry

pytestmark = pytest.mark.django_db

PAGES = ["login", "admin:login"]


def sign_in(client, page, password, address="198.51.100.7", username="olivia"):
    return client.post(
        reverse(page),
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("page", PAGES)
def test_five_wrong_passwords_lock_the_user_out_even_with_the_right_one(client, officer, page):
    for _ in range(4):
        assert sign_in(client, page, "wrong").status_code == 200  # the form again
    assert sign_in(client, page, "wrong").status_code == 429  # the fifth locks
    response = sign_in(client, page, "pw")
    assert response.status_code == 429
    assert not signed_in(client)
    text = response.content.decode()
    assert "Signing in is locked for 15 minutes" in text
    assert "ask a governance admin to unlock it" in text


def test_four_failures_then_the_right_password_signs_in_and_resets_the_count(client, officer):
    for _ in range(4):
        sign_in(client, "login", "wrong")
    assert sign_in(client, "login", "pw").status_code == 302
    assert signed_in(client)
    assert not AccessAttempt.objects.exists()


def test_the_lock_is_per_user_and_address(client, officer):
    for _ in range(5):
        sign_in(client, "login", "wrong")
    assert sign_in(client, "login", "pw", address="203.0.113.9").status_code == 302


def test_each_lock_out_is_one_audit_entry_with_who_and_where(client, officer):
    for _ in range(8):
        sign_in(client, "login", "wrong")
    (entry,) = AuditEntry.objects.filter(action="security.lockout")
    assert entry.object_repr == "olivia"
    assert entry.client_address == "198.51.100.7"
    assert entry.after["failures"] == 5 and entry.after["locked_for_minutes"] == 15
    assert "wrong" not in str(entry.after)  # never the password tried


def test_a_governance_admin_unlocks_and_the_unlock_is_audited(client, officer, gov_admin):
    for _ in range(5):
        sign_in(client, "login", "wrong")
    assert sign_in(client, "login", "pw").status_code == 429
    admin = client.__class__()
    admin.force_login(gov_admin)
    attempt = AccessAttempt.objects.get(username="olivia")
    response = admin.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "unlock_selected", "_selected_action": [attempt.pk]},
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    entry = AuditEntry.objects.get(action="security.unlock")
    assert (entry.actor, entry.object_repr) == (gov_admin, "olivia")
    assert sign_in(client, "login", "pw").status_code == 302


def test_an_officer_cannot_unlock(client, officer, auditor):
    for _ in range(5):
        sign_in(client, "login", "wrong", username="audrey")
    client.force_login(officer)
    attempt = AccessAttempt.objects.get(username="audrey")
    response = client.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "unlock_selected", "_selected_action": [attempt.pk]},
    )
    assert response.status_code == 403
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists()
