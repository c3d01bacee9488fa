"""Single sign-on against a real OpenID Connect provider (Node.js oidc-provider, started
here with its development sign-in pages), in Chromium: the role follows the groups claim at
each sign-in, and someone in no mapped group is refused with a page that says why."""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from django.contrib.auth import get_user_model

from audit.trail.models import AuditEntry
from tests.conftest import need
from tests.test_processes import free_port

pytestmark = pytest.mark.django_db(transaction=True)

PROVIDER = Path(__file__).resolve().parent.parent / "oidc"
SECRET = "assistgov-test-secret"  # the test provider's client
SLOW = 60_000  # a bound for each step on a loaded host, in milliseconds


@pytest.fixture
def identity_provider(live_server, tmp_path, settings):
    """The provider as a process, and assistgov configured to use it."""
    node = shutil.which("node")
    need(node is not None, "Node.js is not installed (the OpenID Connect provider runs on it)")
    need((PROVIDER / "node_modules").is_dir(), "run `make test` once: it installs the provider")
    people = tmp_path / "people.json"
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    log = (tmp_path / "provider.log").open("w")
    process = subprocess.Popen(
        [node, str(PROVIDER / "provider.mjs")],
        env={
            **os.environ,
            "PORT": str(port),
            "ACCOUNTS_FILE": str(people),
            "REDIRECT_URI": f"{live_server.url}/accounts/oidc/sso/login/callback/",
            "CLIENT_SECRET": SECRET,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(f"{issuer}/.well-known/openid-configuration", process, tmp_path)
        settings.OIDC_ISSUER = issuer
        settings.SOCIALACCOUNT_PROVIDERS = {
            "openid_connect": {
                "APPS": [
                    {
                        "provider_id": "sso",
                        "name": "Company sign-in",
                        "client_id": "assistgov",
                        "secret": SECRET,
                        "settings": {
                            "server_url": issuer,
                            "oauth_pkce_enabled": True,
                            "scope": ["openid", "profile", "email", "offline_access"],
                            "auth_params": {"prompt": "consent"},
                        },
                    }
                ]
            }
        }
        directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
        settings.CONTENT_SECURITY_POLICY = {
            "DIRECTIVES": {**directives, "form-action": ["'self'", issuer]}
        }
        yield people
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _wait_for(url, process, tmp_path, within=60.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                "the OpenID Connect provider exited: " + (tmp_path / "provider.log").read_text()
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the OpenID Connect provider did not answer at {url}")


def sign_in_with_the_provider(page, live_server, username):
    """From assistgov's login page through the provider's sign-in and consent pages (each
    only when the provider asks for it) back to assistgov."""
    login = f"{live_server.url}/login/"
    page.goto(login)
    page.click("#sso button[type=submit]")
    page.wait_for_url(lambda url: not url.startswith(login), timeout=SLOW)
    for _ in range(5):
        page.wait_for_load_state("load", timeout=SLOW)
        if page.url.startswith(live_server.url):
            return
        before = page.url
        if page.locator("input[name=login]").count():
            page.fill("input[name=login]", username)
            page.fill("input[name=password]", "any")
        page.click("button[type=submit]")  # sign in, or the consent page's Continue
        page.wait_for_url(lambda url, before=before: url != before, timeout=SLOW)
    raise AssertionError(f"the sign-in did not come back to assistgov: {page.url}")


def roles(username):
    user = get_user_model().objects.get(username=username)
    return sorted(user.groups.values_list("name", flat=True)), user


def test_a_new_person_signs_in_with_the_provider_and_gets_the_mapped_role(
    page, live_server, identity_provider
):
    identity_provider.write_text(json.dumps({"olivia.sso": {"groups": ["assistgov-officers"]}}))
    page.set_default_timeout(SLOW)
    sign_in_with_the_provider(page, live_server, "olivia.sso")
    page.wait_for_url(f"{live_server.url}/review/")
    assert page.locator("header .user", has_text="olivia.sso").count() == 1
    names, user = roles("olivia.sso")
    assert names == ["Compliance officers"]
    assert not user.has_usable_password() and user.is_staff
    (sign_in,) = AuditEntry.objects.filter(action="security.sign_in", actor=user)
    assert sign_in.after["method"] == "single sign-on"

    # The provider moves her to the auditors: her next sign-in follows.
    identity_provider.write_text(json.dumps({"olivia.sso": {"groups": ["assistgov-auditors"]}}))
    page.click("header .user button[type=submit]")  # log out
    page.wait_for_url(re.compile(r"/login/"))
    sign_in_with_the_provider(page, live_server, "olivia.sso")
    page.wait_for_url(f"{live_server.url}/review/")
    assert roles("olivia.sso")[0] == ["Auditors"]
    change = AuditEntry.objects.filter(action="security.roles_from_sso").order_by("id").last()
    assert change.before == {"roles": ["Compliance officers"]}
    assert change.after == {"roles": ["Auditors"]}


def test_someone_in_no_mapped_group_is_refused_with_a_clear_page(
    page, live_server, identity_provider
):
    identity_provider.write_text(json.dumps({"mallory": {"groups": ["sales"]}}))
    page.set_default_timeout(SLOW)
    sign_in_with_the_provider(page, live_server, "mallory")
    page.get_by_role("heading", name="No role for this account").wait_for()
    assert "you are in none of the groups that give a role here" in page.content()
    assert not get_user_model().objects.filter(username="mallory").exists()
    refusal = AuditEntry.objects.get(action="security.sign_in_failed")
    assert refusal.after["groups"] == ["sales"]
    page.goto(f"{live_server.url}/review/")
    page.wait_for_url(re.compile(r"/login/"))  # not signed in


def test_between_sign_ins_roles_follow_the_provider_and_leaving_ends_the_session(
    page, live_server, identity_provider
):
    """The provider granted a refresh token at sign-in: the scheduled check reads the
    person's groups again; removed from every mapped group, they lose their roles and the
    session they have open."""
    from audit.people.models import SsoGrant
    from audit.people.sso import sync_from_provider

    people = {"olivia.sso": {"groups": ["assistgov-admins"]}}
    identity_provider.write_text(json.dumps(people))
    page.set_default_timeout(SLOW)
    sign_in_with_the_provider(page, live_server, "olivia.sso")
    page.wait_for_url(f"{live_server.url}/review/")
    user = get_user_model().objects.get(username="olivia.sso")
    assert SsoGrant.objects.filter(user=user).exists()
    assert "secret" not in SsoGrant.objects.get(user=user).refresh_token  # encrypted

    people["olivia.sso"]["groups"] = ["assistgov-auditors"]
    identity_provider.write_text(json.dumps(people))
    assert sync_from_provider()["changed"] == 1
    assert roles("olivia.sso")[0] == ["Auditors"]

    people["olivia.sso"]["groups"] = ["sales"]  # she left the team
    identity_provider.write_text(json.dumps(people))
    assert sync_from_provider()["revoked"] == 1
    names, user = roles("olivia.sso")
    assert names == [] and not user.is_staff
    page.goto(f"{live_server.url}/admin/")
    page.wait_for_url(re.compile(r"/login/"))  # her open session ended
    change = AuditEntry.objects.filter(action="security.roles_from_sso").order_by("id").last()
    assert change.after["roles"] == [] and change.after["sessions"] == "ended"


def test_someone_disabled_at_the_provider_loses_every_role_at_the_next_check(
    page, live_server, identity_provider
):
    from audit.people.sso import sync_from_provider

    people = {"oona.sso": {"groups": ["assistgov-officers"]}}
    identity_provider.write_text(json.dumps(people))
    page.set_default_timeout(SLOW)
    sign_in_with_the_provider(page, live_server, "oona.sso")
    page.wait_for_url(f"{live_server.url}/review/")
    people["oona.sso"]["disabled"] = True
    identity_provider.write_text(json.dumps(people))
    assert sync_from_provider()["revoked"] == 1
    assert roles("oona.sso")[0] == []


def test_a_refused_sign_in_takes_the_roles_someone_had(page, live_server, identity_provider):
    people = {"adam.sso": {"groups": ["assistgov-admins"]}}
    identity_provider.write_text(json.dumps(people))
    page.set_default_timeout(SLOW)
    sign_in_with_the_provider(page, live_server, "adam.sso")
    page.wait_for_url(f"{live_server.url}/review/")
    page.click("header .user button[type=submit]")  # log out
    page.wait_for_url(re.compile(r"/login/"))
    people["adam.sso"]["groups"] = []
    identity_provider.write_text(json.dumps(people))
    sign_in_with_the_provider(page, live_server, "adam.sso")
    page.get_by_role("heading", name="No role for this account").wait_for()
    assert roles("adam.sso")[0] == []


def test_a_user_name_that_passes_for_another_is_refused(page, live_server, identity_provider):
    lookalike = "\u0430dmin2"  # a Cyrillic a, then "dmin2"
    identity_provider.write_text(json.dumps({lookalike: {"groups": ["assistgov-admins"]}}))
    page.set_default_timeout(SLOW)
    sign_in_with_the_provider(page, live_server, lookalike)
    page.get_by_role("heading", name="This user name cannot be used").wait_for()
    assert "mixes alphabets" in page.content()
    assert not get_user_model().objects.filter(username=lookalike).exists()


def test_an_email_a_local_account_has_gets_a_page_not_an_error(
    page, live_server, identity_provider, django_user_model
):
    django_user_model.objects.create_user(
        username="admin2", email="admin2@bank.test", password="pw"
    )
    people = {"a.sso": {"groups": ["assistgov-officers"], "email": "admin2@bank.test"}}
    identity_provider.write_text(json.dumps(people))
    page.set_default_timeout(SLOW)
    sign_in_with_the_provider(page, live_server, "a.sso")
    page.get_by_role("heading", name="An account here already has your e-mail address").wait_for()
    assert "ask a governance admin" in page.content()
    assert not get_user_model().objects.filter(username="a.sso").exists()
    refusal = AuditEntry.objects.get(action="security.sign_in_failed")
    assert refusal.after["reason"] == "its e-mail address is an existing account's"
