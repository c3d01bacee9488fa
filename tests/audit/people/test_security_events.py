"""Access and security events: each written once, in the access and security category,
with what an investigator needs and never a password or token."""

import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse
from django.utils import timezone

from assistgov.asgi import application
from audit.trail import denied
from audit.trail.categories import Category, category_of
from audit.trail.models import AuditEntry
from tests.audit.reports.test_exports import download as download_body

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


def summaries():
    """The minutes' summaries of refusals, once the minute has ended."""
    denied.summarise(now=timezone.now() + timedelta(minutes=1))
    return events(denied.ACTION)


def test_a_lock_out_is_one_entry_and_tries_while_locked_are_counted(client, officer):
    for _ in range(7):
        client.post(
            reverse("login"), {"username": "olivia", "password": "wrong"}, REMOTE_ADDR=ADDRESS
        )
    assert len(events("security.lockout")) == 1
    assert len(events("security.sign_in_failed")) == 5  # the fifth locked the name out
    (summary,) = summaries()
    assert summary.after["what"] == "sign-ins while locked out"
    assert (summary.after["count"], summary.after["source"]) == (2, ADDRESS)


def test_a_flood_of_anonymous_handshakes_is_one_entry_with_its_count(transactional_db):
    async def knock(times):
        for _ in range(times):
            communicator = WebsocketCommunicator(
                application,
                "/ws/review/",
                headers=[(b"origin", b"http://testserver"), (b"host", b"testserver")],
            )
            communicator.scope["user"] = AnonymousUser()
            connected, _ = await communicator.connect(timeout=15)
            assert not connected

    async_to_sync(knock)(50)
    assert not events("security.denied")
    (summary,) = summaries()
    assert summary.after["count"] == 50
    assert summary.after["what"] == "review socket handshakes"
    assert summary.object_repr == "50 review socket handshakes from an unknown address"


def test_a_refused_page_is_recorded_with_the_role(client, officer):
    client.force_login(officer)
    client.get(reverse("export-csv", args=["audit"]) + "?since=2026-01-01")
    (refused,) = events("security.denied")
    assert refused.object_repr == "/export/audit.csv?since=2026-01-01"
    assert refused.after["role"] == "Compliance officers"
    assert refused.after["what"] == "GET this export"


def test_a_refused_api_token_is_counted_without_the_token(client):
    response = client.post(
        "/api/knowledge/search",
        "{}",
        content_type="application/json",
        headers={"Authorization": "Bearer agk_guessed-token"},
    )
    assert response.status_code == 401
    (summary,) = summaries()
    assert summary.after["what"] == (
        "API calls refused: a token was sent but it is unknown or revoked"
    )
    assert "agk_guessed" not in json.dumps(summary.after)


def test_a_wrong_metrics_token_is_counted(client, settings):
    settings.METRICS_TOKEN = "scrape-me"
    client.get("/metrics", headers={"Authorization": "Bearer scrape-m"})
    client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    (summary,) = summaries()
    assert summary.after["count"] == 1
    assert summary.after["what"] == "API calls refused: a wrong metrics token was sent"
    assert summary.after["first_address_asked"] == "/metrics"


def test_downloading_the_audit_trail_is_recorded(client, auditor):
    client.force_login(auditor)
    response = client.get(reverse("export-csv", args=["audit"]))
    assert response.status_code == 200
    (download,) = events("export.download")
    assert download.object_id == "audit"
    assert category_of(download.action) == Category.SECURITY
    download_body(response)
