"""The simulator speaks PROTOCOL.md section 1 and injects faults on request."""

import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from streams.genesys.frames import decode_frame
from streams.genesys.payloads import build_subscription
from streams.simulator.generator import EventGenerator
from streams.simulator.server import Simulator, SimulatorConfig
from tests.simulator import start_simulator

CREDENTIALS = ("assistgov-demo", "assistgov-demo-secret")


@pytest.fixture
async def sim():
    simulator, url = await start_simulator()
    async with httpx.AsyncClient(base_url=url) as http:
        yield simulator, url, http
    await simulator.stop()


async def token(http):
    response = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=CREDENTIALS
    )
    return response.json()["access_token"]


def ws_url(url):
    return url.replace("http://", "ws://") + "/api/v2/analytics/events"


def subscription(**overrides):
    fields = {
        "subscription_id": "s",
        "interaction_ids": [],
        "insight_types": [],
        "min_confidence": 0.0,
        "max_confidence": 1.0,
        **overrides,
    }
    return build_subscription(**fields)


async def receive_all(ws, count):
    return [decode_frame(await ws.recv()).payload for _ in range(count)]


async def test_oauth_takes_basic_or_form_credentials(sim):
    _, _, http = sim
    basic = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=CREDENTIALS
    )
    form = await http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CREDENTIALS[0],
            "client_secret": CREDENTIALS[1],
        },
    )
    assert basic.status_code == form.status_code == 200
    assert basic.json()["token_type"] == "bearer"
    assert basic.json()["expires_in"] == 3600


async def test_oauth_refuses_wrong_credentials_and_grants(sim):
    _, _, http = sim
    wrong = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("x", "y")
    )
    assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid_client"})
    grant = await http.post("/oauth/token", data={"grant_type": "password"}, auth=CREDENTIALS)
    assert grant.status_code == 400


async def test_a_token_fault_answers_429_with_retry_after(sim):
    simulator, _, http = sim
    simulator.inject({"action": "token", "status": 429, "retry_after": 4})
    response = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=CREDENTIALS
    )
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "4"
    assert response.json()["code"] == "too.many.requests.retry.after"


async def test_stream_limits_need_a_token_and_count_open_streams(sim):
    _simulator, url, http = sim
    assert (await http.get("/api/v2/analytics/events/streamlimits")).status_code == 401
    bearer = {"Authorization": f"Bearer {await token(http)}"}
    async with connect(ws_url(url), additional_headers=bearer) as ws:
        await ws.send(subscription().to_json())
        await ws.recv()
        limits = (await http.get("/api/v2/analytics/events/streamlimits", headers=bearer)).json()
    assert limits == {
        "maxConcurrentStreams": 10,
        "maxSubscriptionsPerStream": 5,
        "currentStreams": 1,
    }


async def test_the_handshake_refuses_a_missing_or_unknown_token(sim):
    _, url, _ = sim
    for headers in ({}, {"Authorization": "Bearer nope"}):
        with pytest.raises(InvalidStatus) as caught:
            async with connect(ws_url(url), additional_headers=headers):
                pass
        assert caught.value.response.status_code == 401


async def test_the_handshake_refuses_over_the_concurrent_limit(sim):
    simulator, url, http = sim
    simulator.inject({"action": "saturate", "streams": 10})
    with pytest.raises(InvalidStatus) as caught:
        async with connect(
            ws_url(url), additional_headers={"Authorization": f"Bearer {await token(http)}"}
        ):
            pass
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "5"


async def test_it_honours_the_subscription_filters(sim):
    simulator, url, http = sim
    wanted = subscription(
        interaction_ids=["interaction-12345"],
        insight_types=["sentiment_alert"],
        min_confidence=0.5,
        max_confidence=0.9,
    )
    async with connect(
        ws_url(url), additional_headers={"Authorization": f"Bearer {await token(http)}"}
    ) as ws:
        assert simulator.stats()["subscribed"] == 0
        await ws.send(wanted.to_json())
        ack = json.loads(await ws.recv())
        assert ack == {"type": "subscribed", "id": "s", "resumed_after": None}
        assert simulator.stats()["subscribed"] == 1
        simulator.emit(2000)
        expected = [e for e in simulator.events if wanted.matches(e)]
        received = await receive_all(ws, len(expected))
    assert [e["id"] for e in received] == [e["id"] for e in expected]
    assert all(
        e["interaction_id"] == "interaction-12345" and 0.5 <= e["confidence"] <= 0.9
        for e in received
    )


async def test_it_replays_after_the_resume_point(sim):
    simulator, url, http = sim
    simulator.emit(10)
    async with connect(
        ws_url(url), additional_headers={"Authorization": f"Bearer {await token(http)}"}
    ) as ws:
        await ws.send(subscription(resume_after="evt-000000007").to_json())
        assert json.loads(await ws.recv())["resumed_after"] == "evt-000000007"
        assert [e["id"] for e in await receive_all(ws, 3)] == [
            "evt-000000008",
            "evt-000000009",
            "evt-000000010",
        ]


async def test_it_closes_1008_with_a_reason_for_a_bad_subscription(sim):
    _, url, http = sim
    async with connect(
        ws_url(url), additional_headers={"Authorization": f"Bearer {await token(http)}"}
    ) as ws:
        await ws.send(
            json.dumps({"type": "subscribe", "id": "s", "filters": [{"attribute": "agent"}]})
        )
        with pytest.raises(ConnectionClosed) as caught:
            await ws.recv()
    assert caught.value.rcvd.code == 1008
    assert caught.value.rcvd.reason.startswith("invalid subscription:")


async def test_the_control_api_refuses_what_it_does_not_know(sim):
    _, _, http = sim
    response = await http.post("/_sim/faults", json={"action": "explode"})
    assert response.status_code == 400
    assert "unknown fault 'explode'" in response.json()["error"]
    assert (await http.post("/_sim/emit", json={"count": -1})).status_code == 400


async def test_stats_list_what_was_sent(sim):
    _simulator, url, http = sim
    async with connect(
        ws_url(url), additional_headers={"Authorization": f"Bearer {await token(http)}"}
    ) as ws:
        await ws.send(subscription().to_json())
        await ws.recv()
        await http.post("/_sim/emit", json={"count": 3})
        await receive_all(ws, 3)
    stats = (await http.get("/_sim/stats", params={"ids": "1"})).json()
    assert stats["generated"] == 3
    assert stats["sent_ids"] == ["evt-000000001", "evt-000000002", "evt-000000003"]


def test_the_same_seed_gives_the_same_events():
    one, two = EventGenerator(seed=7), EventGenerator(seed=7)
    for _ in range(50):
        a, b = one.next_event(), two.next_event()
        assert {**a, "timestamp": None} == {**b, "timestamp": None}


def test_a_restarted_simulator_never_reuses_an_id():
    first, second = Simulator(SimulatorConfig(run_id="a1")), Simulator(SimulatorConfig(run_id="a2"))
    first.emit(1)
    second.emit(1)
    assert first.events[0]["id"] != second.events[0]["id"]
    assert second._resume_cursor(first.events[0]["id"])[1] is None


def test_customers_say_card_numbers_and_addresses_now_and_then():
    from streams.simulator import texts

    values = [value for group in texts.PERSONAL_VALUES.values() for value in group]
    generator = EventGenerator(seed=3, personal_ratio=0.2)
    said = [generator.next_event()["content"]["text"] for _ in range(500)]
    personal = [text for text in said if any(value in text for value in values)]
    assert 50 <= len(personal) <= 150  # about one in five
    assert {kind for _, kind in texts.PERSONAL} == set(texts.PERSONAL_VALUES)
    assert not any(
        any(value in text for value in values)
        for text in (EventGenerator(seed=3).next_event()["content"]["text"] for _ in range(50))
    )


def test_on_a_day_curve_the_rate_follows_a_contact_centre_s_day():
    from datetime import datetime

    from streams.simulator.server import day_share

    simulator = Simulator(SimulatorConfig(rate=8.0, day_curve=True))
    at = lambda hour, minute=0: datetime(2026, 12, 7, hour, minute)  # noqa: E731
    assert simulator.current_rate(at(10)) == 8.0  # the morning peak
    assert simulator.current_rate(at(3)) == pytest.approx(0.4)  # a twentieth at night
    assert simulator.current_rate(at(12, 30)) < simulator.current_rate(at(11))  # lunch
    assert day_share(at(7, 30)) == pytest.approx((0.45 + 0.75) / 2)  # between its hours
    flat = Simulator(SimulatorConfig(rate=8.0))
    assert flat.current_rate(at(3)) == 8.0


def test_the_texts_read_like_a_contact_centre_s_day_not_a_few_lines_repeated():
    from streams.simulator import texts

    for kind, corpus in texts.BY_TYPE.items():
        assert len(set(corpus)) >= 300, kind
    assert len({summary[0] for summary in texts.SUMMARIES}) >= 300
    rules = [text for text in texts.BY_TYPE["compliance_flag"] if "(" in text]
    assert len(rules) == len(texts.BY_TYPE["compliance_flag"])  # each names its rule
