import asyncio
import json

import httpx
import pytest

from streams.genesys.auth import Credentials, TokenManager
from streams.genesys.frames import decode_frame
from streams.genesys.insights import InsightsClient
from streams.genesys.payloads import build_subscription
from streams.genesys.sessions import ClientSettings, ClientState, Ending, SessionEnd
from tests.simulator import RecordingHandler, eventually, start_simulator

SETTINGS = ClientSettings(
    ack_timeout=0.5, backoff_base=0.01, backoff_cap=0.05, policy_backoff=123.0, stable_after=0.3
)


def subscription_factory(**overrides):
    def build(resume_after):
        return build_subscription(
            **{
                "subscription_id": "test-stream",
                "interaction_ids": [],
                "insight_types": [],
                "min_confidence": 0.0,
                "max_confidence": 1.0,
                "resume_after": resume_after,
                **overrides,
            }
        )

    return build


@pytest.fixture
async def sim():
    simulator, url = await start_simulator()
    yield simulator, url
    await simulator.stop()


class Harness:
    """An InsightsClient against the simulator, with its sleeps recorded (and kept short)."""

    def __init__(self, url, handler=None, settings=SETTINGS, subscription=None):
        self.http = httpx.AsyncClient()
        self.tokens = TokenManager(
            self.http,
            token_url=url + "/oauth/token",
            credentials=Credentials("assistgov-demo", "assistgov-demo-secret"),
        )
        self.handler = handler or RecordingHandler()
        self.delays: list[float] = []
        self.client = InsightsClient(
            http=self.http,
            tokens=self.tokens,
            api_base_url=url,
            subscription=subscription or subscription_factory(),
            handler=self.handler,
            settings=settings,
            sleep=self.sleep,
        )
        self.task = None

    async def sleep(self, seconds):
        self.delays.append(seconds)
        await asyncio.sleep(min(seconds, 0.01))

    def start(self):
        self.task = asyncio.create_task(self.client.run())
        return self

    async def stop(self):
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.http.aclose()


def insight_ids(frames):
    return [decode_frame(raw).payload["id"] for raw in frames]


async def connected(harness, times=1):
    await eventually(
        lambda: harness.handler.state_names().count(ClientState.CONNECTED) >= times,
        what="connection",
    )


async def test_it_subscribes_and_receives_every_encoding(sim):
    simulator, url = sim
    harness = Harness(url).start()
    await connected(harness)
    simulator.emit(6)
    await eventually(lambda: len(harness.handler.frames) == 6, what="six frames")
    assert {type(raw) for raw in harness.handler.frames} == {str, bytes}
    assert insight_ids(harness.handler.frames) == [f"evt-{n:09d}" for n in range(1, 7)]
    await harness.stop()


async def test_it_sends_the_subscription_with_the_resume_point(sim):
    simulator, url = sim
    simulator.emit(5)
    harness = Harness(url, RecordingHandler(resume_from="evt-000000002")).start()
    await eventually(lambda: len(harness.handler.frames) == 3, what="replayed frames")
    assert insight_ids(harness.handler.frames) == [
        "evt-000000003",
        "evt-000000004",
        "evt-000000005",
    ]
    assert harness.handler.states[-1] == (
        ClientState.CONNECTED,
        "subscribed, resumed after evt-000000002",
    )
    await harness.stop()


async def test_it_says_when_the_server_did_not_resume(sim):
    _, url = sim
    harness = Harness(url, RecordingHandler(resume_from="evt-999999999")).start()
    await connected(harness)
    assert "events may be missing" in harness.handler.states[-1][1]
    await harness.stop()


async def test_it_refreshes_the_token_and_reconnects_at_once_on_4401(sim):
    simulator, url = sim
    harness = Harness(url).start()
    await connected(harness)
    simulator.inject({"action": "expire_tokens"})
    await connected(harness, times=2)
    assert simulator.counters["tokens_issued"] == 2
    assert harness.delays[0] == 0.0
    assert "token expired, closed (4401" in harness.handler.states[-2][1]
    await harness.stop()


async def test_repeated_token_rejections_back_off(sim):
    _, url = sim
    harness = Harness(url)
    first = harness.client.plan(SessionEnd(Ending.TOKEN_REJECTED, "401"))
    second = harness.client.plan(SessionEnd(Ending.TOKEN_REJECTED, "401"))
    assert first == (ClientState.RECONNECTING, 0.0)
    assert second[0] is ClientState.RECONNECTING
    assert harness.client.backoff.attempt == 1
    await harness.http.aclose()


async def test_a_policy_close_is_an_error_with_the_servers_reason_and_a_long_wait(sim):
    simulator, url = sim
    harness = Harness(url).start()
    await connected(harness)
    simulator.inject({"action": "close", "code": 1008, "reason": "filter not allowed"})
    await eventually(lambda: ClientState.ERROR in harness.handler.state_names(), what="error state")
    errors = [detail for state, detail in harness.handler.states if state is ClientState.ERROR]
    assert "1008: filter not allowed" in errors[0]
    assert 123.0 in harness.delays
    await harness.stop()


async def test_an_invalid_subscription_gets_1008_from_the_server(sim):
    _, url = sim

    def bad(resume_after):
        subscription = subscription_factory()(resume_after)
        subscription.filters[
            0
        ].attribute = "agent_id"  # bypasses validation, as a buggy client would
        return subscription

    harness = Harness(url, subscription=bad).start()
    await eventually(lambda: ClientState.ERROR in harness.handler.state_names(), what="error state")
    errors = [detail for state, detail in harness.handler.states if state is ClientState.ERROR]
    assert "invalid subscription: filters.0.attribute" in errors[0]
    await harness.stop()


async def test_an_abrupt_drop_reconnects_with_backoff(sim):
    simulator, url = sim
    harness = Harness(url).start()
    await connected(harness)
    simulator.inject({"action": "drop"})
    await connected(harness, times=2)
    assert any("1006" in detail for _, detail in harness.handler.states)
    assert harness.client.backoff.attempt == 1
    await harness.stop()


async def test_a_slow_ack_times_out_and_retries(sim):
    simulator, url = sim
    simulator.inject({"action": "ack_delay", "seconds": 1.0})
    harness = Harness(url).start()
    await eventually(
        lambda: any("not acknowledged within 0.5 s" in d for _, d in harness.handler.states),
        what="ack timeout",
    )
    simulator.inject({"action": "ack_delay", "seconds": 0})
    await connected(harness)
    await harness.stop()


async def test_a_handshake_401_fetches_a_new_token(sim):
    simulator, url = sim
    simulator.inject({"action": "handshake", "status": 401, "count": 1})
    harness = Harness(url).start()
    await connected(harness)
    assert simulator.counters["tokens_issued"] == 2
    assert any("HTTP 401" in detail for _, detail in harness.handler.states)
    await harness.stop()


async def test_a_handshake_429_waits_as_long_as_retry_after(sim):
    simulator, url = sim
    simulator.inject({"action": "handshake", "status": 429, "retry_after": 3, "count": 1})
    harness = Harness(url).start()
    await connected(harness)
    assert harness.delays[0] >= 3.0
    await harness.stop()


async def test_it_does_not_connect_while_stream_limits_are_saturated(sim):
    simulator, url = sim
    simulator.inject({"action": "saturate", "streams": 10})
    harness = Harness(url).start()
    await eventually(
        lambda: ClientState.SATURATED in harness.handler.state_names(), what="saturated"
    )
    assert simulator.counters["connections_total"] == 0
    saturated = [
        detail for state, detail in harness.handler.states if state is ClientState.SATURATED
    ]
    assert "10 of 10 concurrent streams" in saturated[0]
    simulator.inject({"action": "saturate", "streams": 0})
    await connected(harness)
    await harness.stop()


async def test_refused_credentials_are_an_error_that_waits_long(sim):
    simulator, url = sim
    simulator.inject({"action": "token", "status": 401, "count": 1})
    harness = Harness(url).start()
    await eventually(lambda: ClientState.ERROR in harness.handler.state_names(), what="error state")
    errors = [detail for state, detail in harness.handler.states if state is ClientState.ERROR]
    assert "refused the client credentials" in errors[0]
    assert harness.delays[0] == 123.0
    await harness.stop()


async def test_backoff_grows_and_resets_after_a_stable_connection(sim):
    _, url = sim
    harness = Harness(url)
    for _ in range(3):
        harness.client.plan(SessionEnd(Ending.FAILED, "network"))
    assert harness.client.backoff.attempt == 3
    harness.client.plan(SessionEnd(Ending.CLOSED, "closed (1001)", code=1001, stable=True))
    assert harness.client.backoff.attempt == 1
    await harness.http.aclose()


async def test_try_again_later_waits_at_least_the_base_delay(sim):
    _, url = sim
    harness = Harness(url)
    state, delay = harness.client.plan(SessionEnd(Ending.CLOSED, "closed (1013)", code=1013))
    assert state is ClientState.RECONNECTING
    assert delay >= SETTINGS.backoff_base
    await harness.http.aclose()


async def test_a_crash_in_frame_handling_is_reported_and_retried(sim):
    simulator, url = sim

    class Exploding(RecordingHandler):
        async def on_frame(self, frame):
            raise RuntimeError("bug")

    harness = Harness(url, Exploding()).start()
    await connected(harness)
    simulator.emit(1)
    await eventually(
        lambda: any("internal error: RuntimeError: bug" in d for _, d in harness.handler.states),
        what="internal error report",
    )
    await connected(harness, times=2)
    await harness.stop()


async def test_the_subscription_on_the_wire_is_seed_ones(sim):
    simulator, url = sim
    harness = Harness(
        url,
        subscription=subscription_factory(insight_types=["sentiment_alert"], min_confidence=0.5),
    ).start()
    await connected(harness)
    (conn,) = simulator.connections.values()
    sent = json.loads(conn.subscription.to_json())
    assert sent["type"] == "subscribe"
    assert sent["confidence_threshold"] == {"min_confidence": 0.5, "max_confidence": 1.0}
    await harness.stop()


async def test_a_gateway_without_a_limits_endpoint_is_still_connected():
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(404)))
    client = InsightsClient(
        http=http,
        tokens=TokenManager(
            http, token_url="https://gw.test/oauth/token", credentials=Credentials("c", "s")
        ),
        api_base_url="https://gw.test",
        subscription=subscription_factory(),
        handler=RecordingHandler(),
    )
    assert await client.fetch_limits("token") is None
    await http.aclose()


class OneFrameSocket:
    """A socket whose next frame the test hands over itself."""

    def __init__(self):
        self.frame = asyncio.get_running_loop().create_future()
        self.asked = asyncio.Event()

    def recv(self):
        self.asked.set()
        return self.frame


async def test_a_stop_that_lands_as_the_acknowledgement_arrives_is_not_lost():
    """The worker cancels a stream's task in the same turn of the loop as the subscription's
    acknowledgement arrives: the task must end (asyncio.wait_for on Python 3.11 returned the
    frame instead, and the stream ran on)."""
    harness = Harness("http://127.0.0.1:9")
    subscription = subscription_factory()(None)
    socket = OneFrameSocket()
    task = asyncio.create_task(harness.client._await_ack(socket, subscription))
    await socket.asked.wait()  # the client is now waiting for the frame
    socket.frame.set_result(json.dumps({"type": "subscribed", "id": subscription.id}))
    task.cancel()
    (outcome,) = await asyncio.gather(task, return_exceptions=True)
    assert isinstance(outcome, asyncio.CancelledError)
    await harness.http.aclose()
