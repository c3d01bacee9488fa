"""A second factor for local passwords: set up on the account page, asked after the password
on either login page, required of governance admins, never kept in clear."""

import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.urls import reverse

from audit.people import mfa
from audit.trail.models import AuditEntry

pytestmark = pytest.mark.django_db


def code_for(secret: str, step: int = 0) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30 + step))


def set_up(client, user) -> str:
    """Set up an authenticator on the account page; returns its secret."""
    client.force_login(user)
    page = client.get(reverse("two-step"))
    assert "Key:" in page.content.decode() and "<svg" in page.content.decode()
    secret = client.session["second_factor_setup"]
    wrong = client.post(reverse("two-step"), {"code": "000000"}).content.decode()
    assert "That code does not match" in wrong
    response = client.post(reverse("two-step"), {"code": code_for(secret)})
    assert response.status_code == 302
    return secret


def sign_in(client, username, path="login"):
    client.logout()
    url = reverse(path) if path == "login" else "/admin/login/"
    response = client.post(url, {"username": username, "password": "pw", "next": "/review/"})
    assert response.status_code == 302, response.content.decode()[:500]


def test_a_set_up_factor_is_asked_after_the_password_on_either_login_page(client, officer):
    secret = set_up(client, officer)
    stored = Authenticator.objects.get(user=officer)
    assert secret not in str(stored.data)  # encrypted with FIELD_ENCRYPTION_KEY
    assert AuditEntry.objects.filter(action="security.second_factor_enabled").exists()

    for path in ("login", "admin"):
        sign_in(client, "olivia", path)
        page = client.get(reverse("review"))
        assert page.status_code == 302 and page["Location"].startswith(reverse("login-code"))
        answer = client.get(reverse("review-progress"), HTTP_ACCEPT="application/json")
        assert answer.status_code == 401
        assert "authenticator" in answer.json()["error"]["message"]
        wrong = client.post(reverse("login-code"), {"code": "123456", "next": "/review/"})
        assert "4 tries left" in wrong.content.decode()
        right = client.post(
            reverse("login-code"), {"code": code_for(secret, 1 if path == "admin" else 0)}
        )
        assert right.status_code == 302, (path, right.content.decode()[-1500:])
        assert client.get(reverse("review")).status_code == 200
    assert AuditEntry.objects.filter(action="security.second_factor").count() == 2
    assert AuditEntry.objects.filter(action="security.second_factor_failed").count() == 2


def test_a_used_code_is_refused_and_five_wrong_codes_end_the_session(client, officer):
    secret = set_up(client, officer)
    sign_in(client, "olivia")
    code = code_for(secret)
    assert client.post(reverse("login-code"), {"code": code}).status_code == 302
    sign_in(client, "olivia")
    again = client.post(reverse("login-code"), {"code": code})  # used already
    assert "or was used already" in again.content.decode()
    for _ in range(4):
        last = client.post(reverse("login-code"), {"code": "000000"})
    assert last.status_code == 302 and "ended=signed-out" in last["Location"]
    assert client.get(reverse("review")).status_code == 302  # to log in again
    assert "_auth_user_id" not in client.session


def test_governance_admins_must_set_one_up_when_required(client, gov_admin, settings):
    settings.MFA_REQUIRED_FOR_ADMINS = True
    sign_in(client, "adam")
    page = client.get(reverse("dashboard"))
    assert page.status_code == 302 and page["Location"].startswith(reverse("two-step"))
    setup = client.get(page["Location"]).content.decode()
    assert "Governance admins who sign in with a password need a second factor" in setup
    secret = client.session["second_factor_setup"]
    client.post(reverse("two-step"), {"code": code_for(secret), "next": "/dashboard/"})
    assert client.get(reverse("dashboard")).status_code == 200
    # They cannot remove it while it is required.
    refused = client.post(reverse("two-step"), {"action": "remove", "code": code_for(secret, 1)})
    assert "must keep a second factor" in refused.content.decode()
    assert Authenticator.objects.filter(user=gov_admin).exists()


def test_an_officer_removes_theirs_with_a_current_code(client, officer):
    secret = set_up(client, officer)
    page = client.get(reverse("account")).content.decode()
    assert "On: each sign-in asks for the code" in page
    client.post(reverse("two-step"), {"action": "remove", "code": code_for(secret, 1)})
    assert not Authenticator.objects.filter(user=officer).exists()
    assert AuditEntry.objects.filter(action="security.second_factor_removed").exists()


def test_the_review_socket_is_refused_while_the_code_is_owed(officer, client):
    set_up(client, officer)
    sign_in(client, "olivia")
    assert mfa.half_signed_in(officer, client.session)
