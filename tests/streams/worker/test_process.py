"""The stream worker against the simulator: end to end, in the test's event loop."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from streams.models import QuarantinedFrame, StreamConfig
from streams.worker.process import StreamWorkerProcess
from tests.factories import make_connection, make_matrix, make_stream
from tests.simulator import (
    eventually,
    start_simulator,
    stopped,
    stored_ids,
    stream_on,
    stream_status,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def sim():
    await get_channel_layer().flush()
    simulator, url = await start_simulator(encoding="mixed")
    yield simulator, url
    await simulator.stop()


@pytest.fixture
async def worker():
    process = StreamWorkerProcess(worker_id="test-worker", reconcile_seconds=60, lease_seconds=600)
    task = asyncio.create_task(process.run())
    yield process
    process.stop()
    await stopped(task)


async def state_is(stream, state):
    await eventually(lambda: _state(stream, state), what=f"stream state {state}")


async def _state(stream, state):
    return (await stream_status(stream)).state == state


async def all_stored(stream, simulator):
    expected = {event["id"] for event in simulator.events}

    async def done():
        return set(await stored_ids(stream)) == expected

    await eventually(done, within=20, what=f"{len(expected)} stored insights")


async def test_every_event_is_stored_exactly_once_across_disconnects(sim, worker):
    simulator, url = sim
    stream = await stream_on(url)
    worker.supervisor.nudge()
    await state_is(stream, "connected")

    simulator.emit(300)
    await eventually(lambda: simulator.counters["sent"] >= 100, what="sending under way")
    simulator.inject({"action": "drop"})  # mid-stream: frames in flight are lost with the socket
    simulator.emit(200)  # generated while the client is away
    await all_stored(stream, simulator)

    simulator.inject({"action": "close", "code": 1011, "reason": "internal"})
    simulator.emit(100)
    simulator.inject({"action": "expire_tokens"})
    simulator.emit(100)
    await all_stored(stream, simulator)

    ids = await stored_ids(stream)
    assert len(ids) == len(set(ids)) == 700 == simulator.generator.seq
    final = await stream_status(stream)
    assert final.reconnects >= 3
    assert final.insights_stored == 700
    assert final.last_event_id == "evt-000000700"
    assert final.quarantined == 0


async def test_bad_frames_are_quarantined_and_the_stream_goes_on(sim, worker):
    simulator, url = sim
    stream = await stream_on(url)
    worker.supervisor.nudge()
    await state_is(stream, "connected")
    simulator.emit(5)
    await all_stored(stream, simulator)
    for kind in (
        "malformed-json",
        "bad-base64",
        "not-an-object",
        "no-type",
        "oversized",
        "duplicate",
    ):
        simulator.inject({"action": "inject", "kind": kind})
    simulator.emit(5)
    await all_stored(stream, simulator)

    @database_sync_to_async
    def reasons():
        return sorted(
            QuarantinedFrame.objects.filter(stream=stream).values_list("reason", flat=True)
        )

    await eventually(lambda: _quarantined(stream, 5), what="five quarantined frames")
    found = " | ".join(await reasons())
    for expected in (
        "not valid JSON",
        "neither JSON nor base64",
        "expected an object",
        "frame has no type",
        "byte limit",
    ):
        assert expected in found
    final = await stream_status(stream)
    assert final.duplicates >= 1
    assert final.state == "connected"


async def _quarantined(stream, count):
    return (await stream_status(stream)).quarantined == count


async def test_a_saved_change_reaches_the_worker_through_the_nudge(sim, worker):
    simulator, url = sim
    stream = await stream_on(url, enabled=False)
    # The first reconcile has run (it leaves the worker's heartbeat); the next periodic one
    # is 60 s away, so only the nudge can start the stream in time.
    await eventually(_heartbeat, what="the worker's first reconcile")

    @database_sync_to_async
    def update(**fields):
        obj = StreamConfig.objects.get(pk=stream.pk)
        for name, value in fields.items():
            setattr(obj, name, value)
        obj.save()

    await update(enabled=True)
    await state_is(stream, "connected")
    assert simulator.connections

    await update(insight_types=["sentiment_alert"])
    await eventually(
        lambda: any(
            conn.subscription and conn.subscription.filters[1].value == ["sentiment_alert"]
            for conn in simulator.connections.values()
        ),
        what="a new subscription with the new types",
    )

    await update(enabled=False)
    await state_is(stream, "stopped")
    await eventually(lambda: not simulator.connections, what="socket closed")


async def test_a_stream_that_cannot_start_says_why(sim, worker):
    _, url = sim

    @database_sync_to_async
    def broken_stream():
        connection = make_connection(
            url=url, secret=None, client_secret_env="GENESYS_MISSING_SECRET"
        )
        return make_stream(connection=connection, matrix=make_matrix(), enabled=True)

    stream = await broken_stream()
    worker.supervisor.nudge()
    await state_is(stream, "error")
    assert "GENESYS_MISSING_SECRET" in (await stream_status(stream)).detail


async def test_stopping_the_worker_stores_what_was_received_and_reports_stopped(sim):
    simulator, url = sim
    stream = await stream_on(url)
    process = StreamWorkerProcess(worker_id="w", reconcile_seconds=60, lease_seconds=600)
    task = asyncio.create_task(process.run())
    await state_is(stream, "connected")
    simulator.emit(250)
    await eventually(lambda: simulator.counters["sent"] == 250, what="all sent")
    process.stop()
    await asyncio.wait_for(task, 180)
    final = await stream_status(stream)
    assert final.state == "stopped"
    assert len(await stored_ids(stream)) == final.frames


async def test_the_worker_records_each_start_and_stop_in_the_audit_trail(sim):
    from audit.trail.models import AuditEntry

    _, url = sim
    stream = await stream_on(url)
    process = StreamWorkerProcess(worker_id="w-audit", reconcile_seconds=60, lease_seconds=600)
    task = asyncio.create_task(process.run())
    await state_is(stream, "connected")
    process.stop()
    await stopped(task)

    @database_sync_to_async
    def entries():
        return list(
            AuditEntry.objects.filter(object_id=str(stream.pk))
            .order_by("id")
            .values_list("action", "actor_label", "after")
        )

    assert await entries() == [
        ("stream.run_start", "Stream worker w-audit", {"reason": "enabled"}),
        ("stream.run_stop", "Stream worker w-audit", {"reason": "the worker is shutting down"}),
    ]


async def _heartbeat():
    from streams.models import WorkerHeartbeat

    return await WorkerHeartbeat.objects.aexists()
