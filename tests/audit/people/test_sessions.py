"""Sessions that end: after SESSION_IDLE_MINUTES without activity and SESSION_MAX_HOURS after
signing in, on pages, the JSON they call and the review socket; a page's own background
calls keep nothing alive."""

import time

import pytest
from channels.db import database_sync_to_async
from django.contrib.sessions.backends.db import SessionStore

from audit.people import sessions
from audit.review import consumers
from tests.audit.review.test_review_consumer import WAIT, open_socket

pytestmark = pytest.mark.django_db

MINUTE = 60


def age(client, *, signed_in_ago: float, seen_ago: float) -> None:
    """Make the client's session as old as given (seconds)."""
    session = client.session
    now = time.time()
    session[sessions.SIGNED_IN_AT] = now - signed_in_ago
    session[sessions.SEEN_AT] = now - seen_ago
    session.save()


def test_a_session_idle_for_half_an_hour_ends_with_a_page_that_says_why(client, officer):
    client.force_login(officer)
    age(client, signed_in_ago=40 * MINUTE, seen_ago=31 * MINUTE)
    response = client.get("/review/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=%2Freview%2F&ended=idle")
    assert "_auth_user_id" not in client.session
    page = client.get(response["Location"]).content.decode()
    assert "Your session ended because nothing was done for 30 minutes" in page


def test_a_session_ends_twelve_hours_after_signing_in_however_busy(client, officer):
    client.force_login(officer)
    age(client, signed_in_ago=12 * 3600 + MINUTE, seen_ago=MINUTE)
    response = client.get("/review/")
    assert "ended=lifetime" in response["Location"]


def test_json_calls_of_an_ended_session_get_a_401_in_words(client, officer):
    client.force_login(officer)
    age(client, signed_in_ago=40 * MINUTE, seen_ago=31 * MINUTE)
    response = client.get("/review/progress")
    assert response.status_code == 401
    assert "nothing was done for 30 minutes" in response.json()["error"]["message"]


def test_background_calls_keep_nothing_alive_and_pages_do(client, officer):
    client.force_login(officer)
    age(client, signed_in_ago=40 * MINUTE, seen_ago=29 * MINUTE)
    seen = client.session[sessions.SEEN_AT]
    assert client.get("/review/progress").status_code == 200
    assert client.session[sessions.SEEN_AT] == seen  # a poll is not activity
    assert client.get("/review/").status_code == 200
    assert client.session[sessions.SEEN_AT] > seen


def test_the_limits_are_settings(client, officer, settings):
    settings.SESSION_IDLE_MINUTES = 5
    client.force_login(officer)
    age(client, signed_in_ago=10 * MINUTE, seen_ago=6 * MINUTE)
    assert "ended=idle" in client.get("/dashboard/")["Location"]


@database_sync_to_async
def age_stored(session_key: str, seconds: float) -> None:
    store = SessionStore(session_key=session_key)
    store[sessions.SEEN_AT] = time.time() - seconds
    store.save()


def session_key(communicator) -> str:
    """The socket's session, from the cookie it opened with."""
    cookie = dict(communicator.scope["headers"])[b"cookie"].decode()
    return cookie.removeprefix("sessionid=")


@pytest.mark.django_db(transaction=True)
async def test_a_socket_whose_session_went_idle_is_told_and_closed(client, officer):
    socket, connected, _ = await open_socket(client, officer)
    assert connected
    await age_stored(session_key(socket), 31 * MINUTE)
    await socket.send_json_to({"type": "subscribe", "filters": {}})
    assert await socket.receive_json_from(timeout=WAIT) == {
        "type": "session_ended",
        "reason": "idle",
    }
    assert (await socket.receive_output(timeout=WAIT))["code"] == 4401


@pytest.mark.django_db(transaction=True)
async def test_a_socket_left_alone_is_closed_when_its_sessions_are_ended(
    client, officer, monkeypatch
):
    """An administrator ending someone's sessions (or the identity provider taking their
    roles) closes their open review page too, without their doing anything."""
    monkeypatch.setattr(consumers, "SESSION_CHECK_SECONDS", 0.05)
    socket, connected, _ = await open_socket(client, officer)
    assert connected

    @database_sync_to_async
    def end_sessions():
        officer.set_unusable_password()  # what ends every session of a person (audit.people.sso)
        officer.save(update_fields=["password"])

    await end_sessions()
    message = await socket.receive_json_from(timeout=WAIT)
    assert message == {"type": "session_ended", "reason": "signed-out"}
