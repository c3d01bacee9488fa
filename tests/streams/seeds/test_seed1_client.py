"""Seed 1's own client authenticates, checks limits, subscribes and receives from the simulator."""

import asyncio

import pytest
from aiohttp import web

from streams.genesys.payloads import Subscription
from tests.simulator import eventually, start_simulator, subscribed

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def start_webhook_receiver():
    received = []

    async def collect(request):
        received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/sync", collect)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/sync", received


async def test_seed_one_client_receives_insights_from_the_simulator(monkeypatch):
    from tests.streams.seeds import seed1_client as seed

    simulator, url = await start_simulator(encoding="mixed")
    runner, webhook_url, received = await start_webhook_receiver()
    monkeypatch.setattr(seed, "API_BASE", url)
    monkeypatch.setattr(seed, "WEBHOOK_URL", webhook_url)
    ws_uri = url.replace("http://", "ws://") + "/api/v2/analytics/events"

    oauth = seed.OAuthManager("assistgov-demo", "assistgov-demo-secret")
    token = await asyncio.to_thread(oauth.get_token)
    assert await asyncio.to_thread(seed.validate_stream_limits, token, "my")
    subscription_json = seed.build_subscription(
        ["interaction-12345", "interaction-67890"],
        ["knowledge_recommendation", "sentiment_alert"],
        0.75,
        1.0,
    )
    client = asyncio.create_task(seed.connect_and_subscribe(ws_uri, token, subscription_json))
    await subscribed(simulator)

    simulator.emit(400)
    subscription = Subscription.model_validate_json(subscription_json)
    expected = [event for event in simulator.events if subscription.matches(event)]
    assert expected, "the generator should produce matching events"
    await eventually(lambda: len(received) == len(expected), what="every matching insight")

    by_position = list(zip(expected, received, strict=True))
    encodings = {simulator._encoding_for(event) for event, _ in by_position}
    assert encodings == {"text", "binary", "base64"}
    weights = {"knowledge_recommendation": 1.0, "sentiment_alert": 0.8}
    for event, processed in by_position:
        assert processed["interaction_id"] == event["interaction_id"]
        assert processed["confidence"] >= 0.75
        assert processed["relevance_score"] == pytest.approx(
            event["confidence"] * weights[event["insight_type"]]
        )
        assert processed["snippet"] == event["content"]["text"][:250]

    client.cancel()
    await asyncio.gather(client, return_exceptions=True)
    await runner.cleanup()
    await simulator.stop()
