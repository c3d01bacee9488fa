"""Following queues and agents against the simulator's queues: conversations start and end,
each one's suggestions arrive (live or back-filled) with no conversation id typed, across a
hand-over, a restart and a full channel budget."""

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from streams.genesys.auth import Credentials, TokenManager
from streams.genesys.following import MemoryFollowLog
from streams.genesys.notifications import NotificationsClient, NotificationSettings
from streams.genesys.sessions import ClientSettings
from streams.genesys.suggestions import ConversationEvent, watch_of
from streams.genesys.times import iso
from streams.simulator.conversations import queue_ids
from streams.simulator.notifications import suggestion_id
from tests.genesys.test_notifications_client import Handler, emitted
from tests.simulator import eventually, start_simulator

SETTINGS = NotificationSettings(
    heartbeat_timeout=1.0,
    ping_interval=0.3,
    handover_grace=0.2,
    follow_linger=0.3,
    backfill_overlap=1.0,
    client=ClientSettings(backoff_base=0.01, backoff_cap=0.05, policy_backoff=123.0),
)


class SummaryHandler(Handler):
    """Keeps suggestions as Handler does, and summaries apart, by their id: a followed
    conversation's summary arrives once it is let go, beside its suggestions."""

    def __init__(self):
        super().__init__()
        self.summaries: dict[str, dict] = {}

    async def on_frame(self, frame):
        message = frame.decoded.payload
        if message["topicName"].endswith(".summaries"):
            body = message["eventBody"]
            self.summaries[body.get("summaryId") or body["id"]] = body
            return
        await super().on_frame(frame)


# Suggestions Genesys lists: intents are not, so one made while a conversation was not
# yet followed could not be back-filled (these tests are about finding conversations).
LISTED = {"insight_type": "knowledge_recommendation"}


@pytest.fixture
async def sim():
    simulator, url = await start_simulator(
        heartbeat_seconds=0.2, interactions=4, queues=2, conversation_turnover=5
    )
    yield simulator, url
    await simulator.stop()


@pytest.fixture
async def following(sim):
    _, url = sim
    started = []

    async def start(*, queues=None, users=(), handler=None, log=None, settings=SETTINGS):
        http = httpx.AsyncClient()
        tokens = TokenManager(
            http,
            token_url=url + "/oauth/token",
            credentials=Credentials("assistgov-demo", "assistgov-demo-secret"),
        )
        client = NotificationsClient(
            http=http,
            tokens=tokens,
            api_base_url=url,
            conversations=[],
            kinds=[],
            handler=handler or SummaryHandler(),
            settings=settings,
            queues=list(queue_ids(2) if queues is None else queues),
            users=list(users),
            follow_log=log or MemoryFollowLog(),
        )
        task = asyncio.create_task(client.run())
        started.append((task, http))
        return client, task

    yield start
    for task, http in started:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await http.aclose()


async def watching(simulator):
    await eventually(
        lambda: any(
            watch_of(topic)
            for sock in simulator.notifications.sockets
            for topic in sock.channel.topics
        ),
        what="a socket subscribed to the queues",
    )


def test_topics_and_conversation_events_are_read():
    assert watch_of("v2.routing.queues.q-1.conversations") == ("queue", "q-1")
    assert watch_of("v2.users.u-1.conversations") == ("user", "u-1")
    assert watch_of("v2.users.u-1.conversations.summaries") is None
    assert watch_of("v2.conversations.c-1.suggestions.intent") is None
    live = {"id": "c-1", "participants": [{"purpose": "agent", "calls": [{"state": "connected"}]}]}
    assert not ConversationEvent.model_validate(live).ended
    ended = {
        "id": "c-1",
        "participants": [
            {"purpose": "customer", "endTime": "2026-11-30T10:00:00Z"},
            {"purpose": "agent", "state": "disconnected"},
        ],
    }
    assert ConversationEvent.model_validate(ended).ended
    assert not ConversationEvent.model_validate({"id": "c-1", "participants": []}).ended


async def test_a_queue_s_conversations_are_followed_as_they_start_and_end(sim, following):
    simulator, _ = sim
    log = MemoryFollowLog()
    handler = SummaryHandler()
    client, _ = await following(handler=handler, log=log)
    await watching(simulator)
    simulator.emit(120, LISTED)  # 24 conversations end, 24 start
    await eventually(lambda: set(handler.bodies) == emitted(simulator), what="all 120")
    assert simulator.life.started == 4 + 24
    # The ones that started while watched were followed as they started; the four live
    # before were found as they ended and back-filled.
    live = set(simulator.life.ids())
    await eventually(
        lambda: set(log.followed) == live, what="the ended ones let go after the linger"
    )
    topics = {t for c in simulator.notifications.channels.values() for t in c.topics}
    subscribed = {t.split(".")[2] for t in topics if t.startswith("v2.conversations.")}
    assert subscribed == live
    assert client.conversations == [c for c in log.followed]
    assert all(f.via.startswith("queue ") for f in log.followed.values())
    assert "following 2 queues and 0 agents: 4 conversations followed" in handler.states[-1][1]


async def test_an_agent_s_conversations_are_followed(sim, following):
    simulator, _ = sim
    agent = simulator.life.agents[0]
    handler = SummaryHandler()
    log = MemoryFollowLog()
    await following(queues=[], users=[agent], handler=handler, log=log)
    await watching(simulator)
    simulator.emit(150, LISTED)
    theirs = {
        sid
        for sid, event in zip(emitted_ids(simulator), simulator.events, strict=True)
        if simulator.life.agent_of(event["interaction_id"]) == agent
    }
    await eventually(lambda: set(handler.bodies) == theirs, what="the agent's suggestions")
    assert theirs and len(theirs) < len(simulator.events)
    assert all(f.via == f"agent {agent}" for f in log.followed.values())


def emitted_ids(simulator):
    return [suggestion_id(event["id"]) for event in simulator.events]


async def test_nothing_is_missed_across_a_hand_over_and_a_restart(sim, following):
    simulator, _ = sim
    log = MemoryFollowLog()
    handler = SummaryHandler()
    _, task = await following(handler=handler, log=log)
    await watching(simulator)
    simulator.emit(40, LISTED)
    simulator.inject({"action": "socket_closing", "seconds": 0.5})
    simulator.emit(40, LISTED)
    await eventually(lambda: set(handler.bodies) == emitted(simulator), what="the first 80")
    # The worker stops; conversations start and end while nothing listens.
    stopped_at = datetime.now(UTC)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await eventually(lambda: not simulator.notifications.sockets, what="the socket closed")
    simulator.emit(60, LISTED)
    restarted = SummaryHandler()
    restarted.resume_from = iso(stopped_at)
    restarted.bodies = dict(handler.bodies)
    await following(handler=restarted, log=log)
    await watching(simulator)
    simulator.emit(30, LISTED)
    await eventually(lambda: set(restarted.bodies) == emitted(simulator), what="all 170")
    # Those that started and ended unwatched were found in Genesys' Copilot aggregates.
    assert simulator.counters["copilot_aggregates_queries"] >= 1


async def test_a_full_budget_keeps_the_oldest_and_loses_nothing(sim, following):
    simulator, _ = sim
    # 2 channels free (3, one kept for hand-overs) of 13 topics: the first carries the two
    # queues and one conversation (6 kinds), the second two conversations: room for three.
    simulator.inject({"action": "notifications_limits", "channels": 3, "topics": 13})
    log = MemoryFollowLog()
    handler = SummaryHandler()
    settings = NotificationSettings(**{**SETTINGS.__dict__, "follow_linger": 30.0})
    await following(handler=handler, log=log, settings=settings)
    await watching(simulator)
    simulator.emit(20, LISTED)  # the four first conversations end; four start: one must wait
    await eventually(lambda: log.notes, what="an entry saying the channels are full")
    assert log.notes[0].startswith("channels full: 3 conversations x 6 suggestion kinds")
    assert "none of the OAuth client's 3 channels free" in log.notes[0]
    waiting = [f for f in log.followed.values() if f.waiting]
    assert len(waiting) == 1
    assert waiting[0].conversation == simulator.life.ids()[-1]  # the newest waits
    simulator.emit(40, LISTED)  # the waiting one ends: back-filled whole
    # While some wait, an ended conversation gives its room at once (not after the linger's
    # 30 s): the waiting get their turn, and everything arrives.
    await eventually(lambda: set(handler.bodies) == emitted(simulator), what="all 60")
    waiting = [f.conversation for f in log.followed.values() if f.waiting]
    assert waiting == simulator.life.ids()[-1:]  # four live, room for three
    assert len(log.notes) == 1
    # The org's limits rise; at the next session everything fits.
    simulator.inject({"action": "notifications_limits", "channels": 20, "topics": 1000})
    simulator.inject({"action": "drop"})
    await eventually(lambda: len(log.notes) == 2, what="an entry saying there is room again")
    assert log.notes[1].startswith("channels have room again")
    assert not any(f.waiting for f in log.followed.values())
    simulator.emit(10, LISTED)
    await eventually(lambda: set(handler.bodies) == emitted(simulator), what="all 70")


def summarised(simulator, conversations=None) -> set[str]:
    return {
        c.summary_event()["summaryId"]
        for c in simulator.notifications.summaries.values()
        if conversations is None or c.id in conversations
    }


async def test_summaries_come_from_agents_topics_and_from_rest_for_queues(sim, following):
    simulator, _ = sim
    agent = simulator.life.agents[1]
    by_agent, by_queue = SummaryHandler(), SummaryHandler()
    await following(queues=[], users=[agent], handler=by_agent)
    await following(handler=by_queue)
    await eventually(
        lambda: (
            sum(
                any(t.endswith(".summaries") for t in sock.channel.topics)
                for sock in simulator.notifications.sockets
            )
            == 1
        ),
        what="the agent's summaries topic subscribed",
    )
    await watching(simulator)
    simulator.emit(60, LISTED)
    theirs = {c.id for c in simulator.life.known.values() if c.agent == agent and c.ended}
    await eventually(
        lambda: set(by_agent.summaries) == summarised(simulator, theirs),
        what="the agent's summaries, live",
    )
    assert theirs
    # Conversations found through the queues: each summary fetched once it is let go.
    await eventually(
        lambda: set(by_queue.summaries) == summarised(simulator),
        what="every ended conversation's summary, from REST",
    )
    body = next(iter(by_queue.summaries.values()))
    assert body["status"] == "Completed" and body["predictedWrapupCodes"]
    assert simulator.counters["summaries_listed"] >= len(by_queue.summaries)
