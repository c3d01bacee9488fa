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

from audit.models import AuditEntry
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
                        "settings": {"server_url": issuer, "oauth_pkce_enabled": True},
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
