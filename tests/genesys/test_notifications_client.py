"""The notifications client against the simulator's notifications flavour: heartbeats,
socket_closing and channel roll-over without a gap, back-fill after a drop without a
duplicate, conversations added and removed while running, limits and permissions."""

import asyncio

import httpx
import pytest

from streams.genesys.auth import Credentials, TokenManager
from streams.genesys.notifications import NotificationsClient, NotificationSettings
from streams.genesys.sessions import ClientSettings, ClientState
from streams.simulator.notifications import suggestion_id, suggestion_kind
from tests.simulator import eventually, start_simulator

SETTINGS = NotificationSettings(
    heartbeat_timeout=1.0,
    ping_interval=0.3,
    handover_grace=0.2,
    client=ClientSettings(backoff_base=0.01, backoff_cap=0.05, policy_backoff=123.0),
)


class Handler:
    """Keeps each suggestion event's body by suggestionId, counting duplicates."""

    def __init__(self, resume_from=None):
        self.bodies: dict[str, dict] = {}
        self.topics: list[str] = []
        self.deliveries = 0
        self.states: list[tuple[ClientState, str]] = []
        self.resume_from = resume_from

    async def on_frame(self, frame):
        body = frame.decoded.payload["eventBody"]
        self.topics.append(frame.decoded.payload["topicName"])
        self.bodies[body.get("suggestionId") or body.get("id")] = body
        self.deliveries += 1

    async def on_state(self, state, detail="", retry_in=None):
        self.states.append((state, detail))

    async def resume_after(self):
        return self.resume_from

    def reconnects(self):
        return sum(state is ClientState.RECONNECTING for state, _ in self.states)


@pytest.fixture
async def sim():
    simulator, url = await start_simulator(heartbeat_seconds=0.2, interactions=6)
    yield simulator, url
    await simulator.stop()


@pytest.fixture
async def running(sim):
    simulator, url = sim
    started = []

    async def start(conversations=None, kinds=(), handler=None, settings=SETTINGS):
        http = httpx.AsyncClient()
        tokens = TokenManager(
            http,
            token_url=url + "/oauth/token",
            credentials=Credentials("assistgov-demo", "assistgov-demo-secret"),
        )
        handler = handler or Handler()
        client = NotificationsClient(
            http=http,
            tokens=tokens,
            api_base_url=url,
            conversations=list(conversations or simulator.generator.interactions),
            kinds=list(kinds),
            handler=handler,
            settings=settings,
        )
        task = asyncio.create_task(client.run())
        started.append((task, http))
        return client, handler

    yield start
    for task, http in started:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await http.aclose()


async def connected(simulator, sockets=1):
    await eventually(lambda: len(simulator.notifications.sockets) >= sockets, what="sockets")


# Suggestions Genesys lists (intents are not), for what is emitted while no socket hears it.
LISTED = {"insight_type": "knowledge_recommendation"}


def emitted(simulator) -> set[str]:
    return {suggestion_id(event["id"]) for event in simulator.events}


async def test_it_subscribes_and_receives_every_suggestion_kind(sim, running):
    simulator, _ = sim
    _, handler = await running()
    await connected(simulator)
    simulator.emit(60)
    # Compliance flags through a tenth event: a third-party action whatever the 60 were.
    simulator.emit(10, {"insight_type": "compliance_flag"})
    await eventually(lambda: set(handler.bodies) == emitted(simulator), what="all 70")
    kinds = {
        next(k for k in body if k.startswith(("know", "canned", "script", "active", "third")))
        for body in handler.bodies.values()
    }
    assert kinds == {
        "knowledgeSearch",
        "knowledgeArticle",
        "cannedResponse",
        "script",
        "activeIntent",
        "thirdPartySuggestion",
    }
    assert handler.states[-1] == (
        ClientState.CONNECTED,
        "subscribed: 6 conversations, 36 topics on 1 channel(s)",
    )


async def test_a_silent_socket_is_declared_dead_and_the_gap_back_filled(sim, running):
    simulator, _ = sim
    client, handler = await running()
    await connected(simulator)
    simulator.emit(10)
    await eventually(lambda: len(handler.bodies) == 10, what="first 10")
    simulator.inject({"action": "silence", "seconds": 30})
    simulator.emit(15, LISTED)  # swallowed by the silent socket
    await eventually(lambda: len(handler.bodies) == 25, within=10, what="back-filled 15")
    assert any("no heartbeat for 1 s" in detail for _, detail in handler.states)
    assert client.backfilled >= 15
    assert set(handler.bodies) == emitted(simulator)


async def test_socket_closing_hands_over_to_a_new_channel_without_a_gap(sim, running):
    simulator, _ = sim
    client, handler = await running()
    await connected(simulator)
    simulator.inject({"action": "socket_closing", "seconds": 1.0})
    await eventually(lambda: client.channels_opened == 2, what="a second channel")
    for _ in range(10):  # while both sockets are open, and after the old one closed
        simulator.emit(5)
        await asyncio.sleep(0.15)
    await eventually(lambda: set(handler.bodies) == emitted(simulator), what="all 50")
    assert client.backfilled == 0  # nothing was missed: no back-fill was needed
    assert handler.reconnects() == 0
    assert simulator.counters["notifications_sockets"] == 2


async def test_a_channel_is_rolled_over_before_it_expires(sim, running):
    simulator, _ = sim
    simulator.config.channel_ttl = 1.2
    client, handler = await running()
    await connected(simulator)
    for _ in range(16):
        simulator.emit(3)
        await asyncio.sleep(0.15)
    await eventually(lambda: set(handler.bodies) == emitted(simulator), what="all 48")
    assert client.channels_opened >= 3  # rolled at half of each 1.2 s life
    assert handler.reconnects() == 0
    assert simulator.counters["notifications_expired"] == 0  # never reached its expiry


async def test_after_a_drop_the_back_fill_closes_the_gap_and_duplicates_are_not_kept(sim, running):
    simulator, _ = sim
    _, handler = await running()
    await connected(simulator)
    simulator.emit(20)
    await eventually(lambda: len(handler.bodies) == 20, what="first 20")
    simulator.inject({"action": "drop"})
    simulator.emit(20, LISTED)  # while no socket is there: the service queues nothing
    await eventually(lambda: len(handler.bodies) == 40, within=10, what="all 40")
    assert set(handler.bodies) == emitted(simulator)
    # The back-fill overlaps what was received; the overlap is delivered again and is
    # for ingestion to deduplicate by suggestionId (the dict here).
    assert handler.deliveries > 40


async def test_at_start_the_back_fill_begins_at_the_stored_cursor(sim, running):
    simulator, _ = sim
    simulator.emit(12, LISTED)  # before the stream ever connected
    cursor = simulator.events[0]["timestamp"]
    _, handler = await running(handler=Handler(resume_from=cursor))
    await eventually(lambda: len(handler.bodies) == 12, what="the 12 back-filled")
    assert simulator.counters["notifications_listing_pages"] >= 6  # one per conversation


async def test_the_back_fill_follows_the_listings_pages(sim, running):
    simulator, _ = sim
    conversation = simulator.generator.interactions[0]
    simulator.emit(450, {"interaction_id": conversation, **LISTED})  # 3 pages of at most 200
    cursor = simulator.events[0]["timestamp"]
    _, handler = await running(conversations=[conversation], handler=Handler(cursor))
    await eventually(lambda: len(handler.bodies) == 450, what="450 back-filled")
    assert set(handler.bodies) == emitted(simulator)
    assert simulator.counters["notifications_listing_pages"] == 3


async def test_conversations_are_added_and_removed_without_a_reconnect(sim, running):
    simulator, _ = sim
    first, second, *_ = simulator.generator.interactions
    client, handler = await running(conversations=[first])
    await connected(simulator)
    await client.set_conversations([first, second])
    assert simulator.notifications.subscription_calls[-1][0] == "POST"
    simulator.emit(30, {"interaction_id": second})
    await eventually(lambda: len(handler.bodies) == 30, what="the added conversation's 30")
    await client.set_conversations([first])
    assert simulator.notifications.subscription_calls[-1][0] == "PUT"
    simulator.emit(5, {"interaction_id": second})
    simulator.emit(5, {"interaction_id": first})
    await eventually(lambda: len(handler.bodies) == 35, what="only the first's 5 more")
    await asyncio.sleep(0.3)
    assert len(handler.bodies) == 35
    assert simulator.counters["notifications_sockets"] == 1
    assert handler.reconnects() == 0


async def test_topics_beyond_a_channels_limit_spread_over_more_channels(sim, running):
    simulator, _ = sim
    simulator.inject({"action": "notifications_limits", "topics": 12})
    _, handler = await running()  # 6 conversations x 6 kinds = 36 topics
    await connected(simulator, sockets=3)
    simulator.emit(30)
    await eventually(lambda: set(handler.bodies) == emitted(simulator), what="all 30")
    topics = [len(c.topics) for c in simulator.notifications.channels.values()]
    assert sorted(topics) == [12, 12, 12]


async def test_more_topics_than_the_channels_can_carry_are_refused_clearly(sim, running):
    simulator, _ = sim
    simulator.inject({"action": "notifications_limits", "topics": 6, "channels": 3})
    _, handler = await running()  # 6 conversations need 6 channels; 2 are free
    await eventually(lambda: handler.states and handler.states[-1][0] is ClientState.ERROR)
    assert "36 topics need 6 channels" in handler.states[-1][1]
    assert simulator.notifications.channels == {}


async def test_limits_it_may_not_read_are_said_and_the_documented_ones_used(sim, running):
    # Genesys publishes no permission for the limits endpoint: a refusal is not fatal.
    simulator, _ = sim
    simulator.inject({"action": "notifications_limits", "status": 403})
    _, handler = await running()
    await connected(simulator)
    await eventually(lambda: handler.states and handler.states[-1][0] is ClientState.CONNECTED)
    detail = handler.states[-1][1]
    assert "HTTP 403 on GET /api/v2/organizations/limits/namespaces/notifications" in detail
    assert "documented 20 channels of 1000 topics" in detail
    simulator.emit(3)
    await eventually(lambda: set(handler.bodies) == emitted(simulator), what="3 suggestions")


async def test_no_longer_subscribed_gets_a_new_channel_and_a_back_fill(sim, running):
    simulator, _ = sim
    client, handler = await running()
    await connected(simulator)
    simulator.emit(5)
    await eventually(lambda: len(handler.bodies) == 5, what="first 5")
    simulator.inject({"action": "no_longer_subscribed"})
    simulator.emit(5, LISTED)  # the unsubscribed channel does not deliver these
    await eventually(lambda: set(handler.bodies) == emitted(simulator), what="all 10")
    assert client.channels_opened == 2
    assert handler.reconnects() == 0


async def test_a_revoked_token_is_replaced(sim, running):
    simulator, _ = sim
    _, handler = await running()
    await connected(simulator)
    simulator.inject({"action": "token_revoked"})
    await eventually(lambda: simulator.counters["tokens_issued"] == 2, what="a second token")
    assert any("token was revoked" in detail for _, detail in handler.states)
    # Emitted maybe before the new session has subscribed: the back-fill brings them then.
    simulator.emit(5, LISTED)
    await eventually(lambda: len(handler.bodies) == 5, what="events on the new session")


async def test_the_channel_socket_carries_no_token(sim, running):
    simulator, _ = sim
    await running()
    await connected(simulator)
    [sock] = simulator.notifications.sockets
    assert "Authorization" not in sock.request.headers  # the channel is the credential


async def test_a_channel_socket_opens_without_a_header_as_in_genesys_browser_tutorials(sim):
    """A client written from Genesys' documentation (a browser WebSocket cannot send an
    Authorization header) works against the simulator; an unknown channel does not."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    simulator, url = sim
    async with httpx.AsyncClient() as http:
        token = (
            await http.post(
                url + "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=("assistgov-demo", "assistgov-demo-secret"),
            )
        ).json()["access_token"]
        channel = (
            await http.post(
                url + "/api/v2/notifications/channels",
                headers={"Authorization": f"Bearer {token}"},
            )
        ).json()
    async with connect(channel["connectUri"]) as ws:
        await eventually(lambda: simulator.notifications.sockets, what="the socket")
        assert '"channel.metadata"' in await ws.recv()  # a heartbeat: it is being served
    with pytest.raises(InvalidStatus) as refused:
        await connect(channel["connectUri"].rsplit("/", 1)[0] + "/streaming-0-unknown")
    assert refused.value.response.status_code == 404


async def test_kinds_subscribe_under_the_orgs_topic_names_and_one_not_offered_is_named(
    sim, running
):
    simulator, _ = sim
    simulator.inject(
        {"action": "topics", "names": {"response": "knowledge.response"}, "drop": ["script"]}
    )
    _, handler = await running()
    await connected(simulator)
    topics = next(iter(simulator.notifications.channels.values())).topics
    assert any(t.endswith(".suggestions.knowledge.response") for t in topics)
    assert not any(t.endswith((".suggestions.script", ".suggestions.response")) for t in topics)
    await eventually(lambda: handler.states and handler.states[-1][0] is ClientState.CONNECTED)
    assert handler.states[-1][1].endswith(
        "not offered by this org over WebSocket, so not subscribed: "
        "v2.conversations.{id}.suggestions.script or "
        "v2.conversations.{id}.suggestions.knowledge.script"
    )
    simulator.emit(30, {"insight_type": "compliance_flag"})
    run = simulator.config.run_id
    heard = {
        suggestion_id(e["id"]) for e in simulator.events if suggestion_kind(e, run) != "script"
    }
    await eventually(lambda: set(handler.bodies) == heard, what="all but the scripts")
    responses = [b for b in handler.bodies.values() if "cannedResponse" in b]
    assert responses and all(b["assistgovResolved"]["text"] for b in responses)


async def test_an_unknown_listing_type_is_handed_on_to_be_quarantined_not_dropped(sim, running):
    simulator, _ = sim
    client, handler = await running()
    await connected(simulator)
    entity = {"id": "s-1", "type": "Faq", "conversation": {"id": "c-1"}, "faq": {}}
    assert await client._backfilled("c-1", entity) == 1
    assert handler.topics[-1] == "v2.conversations.c-1.suggestions.faq"
