"""A notifications stream that follows queues, through the stream worker: every suggestion
of every conversation stored exactly once, with no conversation id typed, across a
hand-over and a worker restart; a full channel budget is an entry in the trail."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from audit.trail.models import AuditEntry
from streams.models import FollowedConversation, GenesysConnection, Insight
from streams.simulator.conversations import queue_ids
from streams.simulator.notifications import suggestion_id
from streams.worker.process import StreamWorkerProcess
from tests.factories import make_connection, make_matrix, make_stream
from tests.simulator import eventually, start_simulator, stream_status

pytestmark = pytest.mark.django_db(transaction=True)

# Suggestions Genesys lists and counts (intents are neither): what a back-fill can bring.
LISTED = {"insight_type": "knowledge_recommendation"}


@pytest.fixture
async def sim():
    await get_channel_layer().flush()
    simulator, url = await start_simulator(
        interactions=4, queues=2, conversation_turnover=5, heartbeat_seconds=0.2
    )
    yield simulator, url
    await simulator.stop()


@pytest.fixture
async def workers(settings):
    settings.STREAMS_HEARTBEAT_TIMEOUT_SECONDS = 2.0
    settings.STREAMS_FOLLOW_LINGER_SECONDS = 0.3
    running = {}

    def start(name):
        process = StreamWorkerProcess(worker_id=name, reconcile_seconds=60, lease_seconds=600)
        running[name] = (process, asyncio.create_task(process.run()))
        return process

    async def stop(name):
        process, task = running.pop(name)
        process.stop()
        await asyncio.wait_for(task, 30)

    yield start, stop
    for name in list(running):
        await stop(name)


@database_sync_to_async
def following_stream(url):
    connection = make_connection(url=url, flavour=GenesysConnection.Flavour.NOTIFICATIONS)
    return make_stream(
        connection=connection,
        matrix=make_matrix(),
        interaction_ids=[],
        queue_ids=queue_ids(2),
        enabled=True,
    )


@database_sync_to_async
def stored(stream) -> list[str]:
    """The suggestions stored (the conversations' summaries come too, counted elsewhere)."""
    rows = Insight.objects.filter(stream=stream).exclude(insight_type="summary")
    return list(rows.values_list("external_id", flat=True))


@database_sync_to_async
def followed(stream) -> set[str]:
    return set(
        FollowedConversation.objects.filter(stream=stream).values_list("conversation_id", flat=True)
    )


async def watching(simulator):
    await eventually(
        lambda: any(
            topic.startswith("v2.routing.queues.")
            for sock in simulator.notifications.sockets
            for topic in sock.channel.topics
        ),
        what="a socket subscribed to the queues",
    )


async def all_stored_once(stream, simulator):
    expected = {suggestion_id(event["id"]) for event in simulator.events}

    async def done():
        return set(await stored(stream)) == expected

    await eventually(done, what=f"{len(expected)} stored suggestions")
    rows = await stored(stream)
    assert len(rows) == len(set(rows)) == len(expected)


async def test_a_queue_s_conversations_are_stored_once_across_a_hand_over_and_a_restart(
    sim, workers
):
    simulator, url = sim
    start, stop = workers
    stream = await following_stream(url)
    start("worker-a")
    await watching(simulator)
    simulator.emit(40, LISTED)
    simulator.inject({"action": "socket_closing", "seconds": 0.5})
    simulator.emit(40, LISTED)
    await all_stored_once(stream, simulator)
    live = set(simulator.life.ids())
    await eventually(lambda: _followed_is(stream, live), what="the live ones followed, no more")

    # The worker stops; conversations start and end while none runs; another worker takes
    # the stream over and follows what the first one followed.
    await stop("worker-a")
    await eventually(lambda: not simulator.notifications.sockets, what="the socket closed")
    simulator.emit(40, LISTED)
    start("worker-b")
    await watching(simulator)
    simulator.emit(20, LISTED)
    await all_stored_once(stream, simulator)
    status = await stream_status(stream)
    assert status.worker == "worker-b" and status.quarantined == 0
    assert "following 2 queues and 0 agents" in status.detail


async def _followed_is(stream, conversations):
    return await followed(stream) == conversations


async def test_a_full_channel_budget_is_an_entry_in_the_trail(sim, workers):
    simulator, url = sim
    start, _ = workers
    simulator.inject({"action": "notifications_limits", "channels": 3, "topics": 13})
    stream = await following_stream(url)
    start("worker-a")
    await watching(simulator)
    simulator.emit(60, LISTED)
    await all_stored_once(stream, simulator)  # waiting ones are back-filled: nothing lost

    @database_sync_to_async
    def entries():
        return list(AuditEntry.objects.filter(action="stream.run_channels_full"))

    full = await eventually(entries, what="the entry")
    assert full[0].object_repr == stream.name
    assert (
        "3 conversations x 6 suggestion kinds + 2 queue and agent topics"
        in (full[0].after["reason"])
    )
    status = await stream_status(stream)
    assert "waiting for room" in status.detail and "channels full" in status.detail
