"""Access and security events: each written once, in the access and security category,
with what an investigator needs and never a password or token."""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse

from assistgov.asgi import application
from audit.categories import Category, category_of
from audit.models import AuditEntry
from tests.audit.test_exports import download as download_body

pytestmark = pytest.mark.django_db

ADDRESS = "198.51.100.7"


def events(action):
    return list(AuditEntry.objects.filter(action=action).order_by("id"))


def test_signing_in_and_out_are_each_one_entry(client, officer):
    client.post(reverse("login"), {"username": "olivia", "password": "pw"}, REMOTE_ADDR=ADDRESS)
    (sign_in,) = events("security.sign_in")
    assert (sign_in.actor_label, sign_in.client_address) == ("olivia", ADDRESS)
    assert sign_in.after["method"] == "password"
    client.post(reverse("logout"), REMOTE_ADDR=ADDRESS)
    (sign_out,) = events("security.sign_out")
    assert sign_out.actor_label == "olivia"
    assert {category_of(e.action) for e in (sign_in, sign_out)} == {Category.SECURITY}


def test_a_failed_sign_in_keeps_the_name_tried_and_the_address_never_the_password(client, officer):
    client.post(
        reverse("login"),
        {"username": "olivia", "password": "Sekr1t-guess"},
        REMOTE_ADDR=ADDRESS,
    )
    (failed,) = events("security.sign_in_failed")
    assert failed.object_repr == "olivia"
    assert failed.after["username"] == "olivia"
    assert failed.after["client_address"] == ADDRESS
    assert failed.client_address == ADDRESS
    stored = json.dumps([failed.before, failed.after, failed.object_repr, failed.actor_label])
    assert "Sekr1t" not in stored
    assert not events("security.sign_in")


def test_a_lock_out_is_one_entry_and_every_try_while_locked_is_a_failure(client, officer):
    for _ in range(7):
        client.post(
            reverse("login"), {"username": "olivia", "password": "wrong"}, REMOTE_ADDR=ADDRESS
        )
    assert len(events("security.lockout")) == 1
    failures = events("security.sign_in_failed")
    assert len(failures) == 7
    assert [f.after["while_locked_out"] for f in failures][-2:] == [True, True]


def test_a_refused_page_is_recorded_with_the_role(client, officer):
    client.force_login(officer)
    client.get(reverse("export-csv", args=["audit"]) + "?since=2026-01-01")
    (refused,) = events("security.denied")
    assert refused.object_repr == "/export/audit.csv?since=2026-01-01"
    assert refused.after["role"] == "Compliance officers"
    assert refused.after["what"] == "GET this export"


def test_a_refused_socket_is_recorded(transactional_db):
    async def connect():
        communicator = WebsocketCommunicator(
            application,
            "/ws/review/",
            headers=[(b"origin", b"http://testserver"), (b"host", b"testserver")],
        )
        communicator.scope["user"] = AnonymousUser()
        connected, _ = await communicator.connect(timeout=15)
        await communicator.disconnect()
        return connected

    assert async_to_sync(connect)() is False
    (refused,) = events("security.denied")
    assert refused.actor_label == "not signed in"
    assert refused.object_repr == "WebSocket /ws/review/"


def test_a_refused_api_token_is_recorded_without_the_token(client):
    response = client.post(
        "/api/knowledge/search",
        "{}",
        content_type="application/json",
        headers={"Authorization": "Bearer agk_guessed-token"},
    )
    assert response.status_code == 401
    (refused,) = events("security.token_refused")
    assert refused.after["reason"] == "a token was sent but it is unknown or revoked"
    assert "agk_guessed" not in json.dumps(refused.after)


def test_a_wrong_metrics_token_is_recorded(client, settings):
    settings.METRICS_TOKEN = "scrape-me"
    client.get("/metrics", headers={"Authorization": "Bearer scrape-m"})
    client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    (refused,) = events("security.token_refused")
    assert refused.after == {"address": "/metrics", "reason": "a wrong metrics token was sent"}


def test_downloading_the_audit_trail_is_recorded(client, auditor):
    client.force_login(auditor)
    response = client.get(reverse("export-csv", args=["audit"]))
    assert response.status_code == 200
    (download,) = events("export.download")
    assert download.object_id == "audit"
    assert category_of(download.action) == Category.SECURITY
    download_body(response)
