"""Sign-in throttling: five failures for one user from one address lock that pair out for
fifteen minutes, on both login pages; each lock-out is audited; admins can unlock."""

import json

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from audit.trail.models import AuditEntry

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


# One reading of a name for the password check, the lock-out and the trail (finding H4).


@pytest.fixture
def password_checks(monkeypatch):
    """How many times a password was checked against an account."""
    from django.contrib.auth.models import AbstractBaseUser

    checks = []
    original = AbstractBaseUser.check_password

    def counted(self, raw):
        checks.append(self.get_username())
        return original(self, raw)

    monkeypatch.setattr(AbstractBaseUser, "check_password", counted)
    return checks


@pytest.mark.parametrize("page", PAGES)
def test_a_lock_out_holds_whatever_the_case_spaces_or_unicode_form(
    client, officer, password_checks, page
):
    for _ in range(5):
        sign_in(client, page, "wrong")
    checked = len(password_checks)
    fullwidth = "".join(chr(ord(letter) + 0xFEE0) for letter in "olivia")  # NFKC: olivia
    for variant in ("Olivia", "OLIVIA", "oLiViA", "  OLIVIA  ", fullwidth):
        assert sign_in(client, page, "pw", username=variant).status_code == 429, variant
    assert len(password_checks) == checked  # not one more password check
    assert not signed_in(client)
    assert AccessAttempt.objects.get().username == "olivia"


def test_failures_under_different_spellings_count_together(client, officer):
    for variant in ("olivia", "Olivia", "OLIVIA ", "olivia", "oLivia"):
        sign_in(client, "login", "wrong", username=variant)
    assert sign_in(client, "login", "pw").status_code == 429


def test_a_password_sign_in_under_another_case_is_recorded_as_a_password_sign_in(client, officer):
    assert sign_in(client, "login", "pw", username=" OLIVIA ").status_code == 302
    assert signed_in(client)
    entry = AuditEntry.objects.get(action="security.sign_in")
    assert (entry.actor, entry.after["method"]) == (officer, "password")


def test_one_address_spraying_passwords_over_every_name_is_stopped(
    client, django_user_model, settings
):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 12
    names = [f"person{n}" for n in range(4)]
    for name in names:
        django_user_model.objects.create_user(username=name, password="right")
    statuses = [
        sign_in(client, "login", "wrong", username=name).status_code
        for name in names[:3]
        for _ in range(4)  # under each name's own limit of five
    ]
    assert statuses == [200] * 11 + [429]  # the twelfth failure from the address locks it
    response = sign_in(client, "login", "right", username=names[3])
    assert response.status_code == 429 and not signed_in(client)
    entry = AuditEntry.objects.get(action="security.lockout")
    assert entry.after["locked"] == "every user name from this address"
    # Another address is not affected.
    assert (
        sign_in(client, "login", "right", username=names[3], address="203.0.113.9").status_code
        == 302
    )


def test_a_name_that_is_no_account_is_kept_only_as_a_keyed_hash(client, officer):
    typed = "My$ecretPassw0rd!0"
    for _ in range(6):
        sign_in(client, "login", "whatever", username=typed)
    stored = json.dumps(
        [[e.object_repr, e.object_id, e.before, e.after] for e in AuditEntry.objects.all()]
        + [list(a) for a in AccessAttempt.objects.values_list("username", "get_data", "post_data")]
    )
    assert "ecretPassw0rd" not in stored
    failed = AuditEntry.objects.filter(action="security.sign_in_failed").first()
    assert failed.after["name_exists"] is False and len(failed.after["name_hash"]) == 32
    assert AuditEntry.objects.filter(action="security.lockout").count() == 1


def test_passwords_are_hashed_with_argon2id_and_older_hashes_move_to_it_at_sign_in(
    client, officer, settings
):
    from django.contrib.auth.hashers import make_password

    from assistgov import settings as production

    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS
    assert make_password("a new password").startswith("argon2$argon2id$")
    officer.password = make_password("an older one", hasher="pbkdf2_sha256")
    officer.save(update_fields=["password"])
    assert sign_in(client, "login", "an older one").status_code == 302 and signed_in(client)
    officer.refresh_from_db()
    assert officer.password.startswith("argon2$argon2id$")
    assert officer.check_password("an older one")
