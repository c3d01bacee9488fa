"""The fault matrix: for each fault the simulator can inject, the worker keeps running, the
stream's status says what happened, every event sent is stored exactly once, and every bad
frame is in quarantine with its reason. Runs on SQLite and, in the scaled pass, PostgreSQL."""

import asyncio
from dataclasses import dataclass, field

import pytest
from channels.db import database_sync_to_async

from streams.models import QuarantinedFrame
from streams.worker.process import StreamWorkerProcess
from tests.simulator import (
    eventually,
    start_simulator,
    stopped,
    stored_ids,
    stream_on,
    stream_status,
)

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass(frozen=True)
class Case:
    faults: list[dict]
    status_says: str = ""
    quarantined: str = ""
    undo: list[dict] = field(default_factory=list)
    hold: float = 0.0


CASES = {
    "abrupt socket drop": Case([{"action": "drop"}], "1006"),
    "close 1001": Case([{"action": "close", "code": 1001, "reason": "going away"}], "1001"),
    "close 1008": Case(
        [{"action": "close", "code": 1008, "reason": "not allowed"}], "1008: not allowed"
    ),
    "close 1011": Case([{"action": "close", "code": 1011, "reason": "internal"}], "1011"),
    "close 1013": Case([{"action": "close", "code": 1013, "reason": "try later"}], "1013"),
    "close 4401": Case([{"action": "close", "code": 4401, "reason": "token expired"}], "4401"),
    "token endpoint 429": Case(
        [
            {"action": "token", "status": 429, "retry_after": 1, "count": 5},
            {"action": "expire_tokens"},
        ],
        "429",
    ),
    "token endpoint 401": Case(
        [{"action": "token", "status": 401, "count": 1}, {"action": "expire_tokens"}],
        "refused the client credentials",
    ),
    "handshake 429": Case(
        [{"action": "handshake", "status": 429, "retry_after": 1, "count": 1}, {"action": "drop"}],
        "HTTP 429",
    ),
    "stream limits saturated": Case(
        [{"action": "saturate", "streams": 10}, {"action": "drop"}],
        "stream limit reached",
        undo=[{"action": "saturate", "streams": 0}],
    ),
    "malformed JSON": Case(
        [{"action": "inject", "kind": "malformed-json"}], quarantined="not valid JSON"
    ),
    "bad base64": Case(
        [{"action": "inject", "kind": "bad-base64"}], quarantined="neither JSON nor base64"
    ),
    "oversized frame": Case([{"action": "inject", "kind": "oversized"}], quarantined="byte limit"),
    "duplicated frames": Case([{"action": "inject", "kind": "duplicate"}] * 3),
    "simulator restart": Case([{"action": "restart", "seconds": 1}], "ConnectError"),
    "server too slow to ack": Case(
        [{"action": "ack_delay", "seconds": 3}, {"action": "drop"}],
        "not acknowledged within 2 s",
        undo=[{"action": "ack_delay", "seconds": 0}],
        hold=2.5,
    ),
}


@database_sync_to_async
def quarantine_reasons(stream):
    return list(QuarantinedFrame.objects.filter(stream=stream).values_list("reason", flat=True))


async def all_stored(stream, simulator):
    async def done():
        return set(await stored_ids(stream)) == {event["id"] for event in simulator.events}

    await eventually(done, within=30, what="every event stored")


@pytest.mark.parametrize("name", list(CASES))
async def test_the_worker_survives(name, settings):
    case = CASES[name]
    settings.STREAMS_POLICY_BACKOFF_SECONDS = 0.5
    simulator, url = await start_simulator(encoding="mixed")
    stream = await stream_on(url)
    worker = StreamWorkerProcess(worker_id="matrix", reconcile_seconds=0.5, lease_seconds=60)
    task = asyncio.create_task(worker.run())
    try:
        await eventually(lambda: _state(stream, "connected"), what="connected")
        simulator.emit(50)
        await all_stored(stream, simulator)

        for fault in case.faults:
            simulator.inject(fault)
        simulator.emit(50)  # during the fault
        if case.status_says:
            await eventually(
                lambda: _says(stream, case.status_says), within=20, what=case.status_says
            )
        await asyncio.sleep(case.hold)
        for fault in case.undo:
            simulator.inject(fault)
        simulator.emit(50)

        await all_stored(stream, simulator)
        ids = await stored_ids(stream)
        assert len(ids) == len(set(ids)) == 150, "stored exactly once"
        await eventually(lambda: _state(stream, "connected"), within=20, what="connected again")
        reasons = await quarantine_reasons(stream)
        if case.quarantined:
            assert len(reasons) == 1 and case.quarantined in reasons[0], reasons
        else:
            assert reasons == []
        if name == "duplicated frames":
            assert (await stream_status(stream)).duplicates >= 3
        assert not task.done(), "the worker keeps running"
    finally:
        worker.stop()
        await stopped(task)
        await simulator.stop()


async def _state(stream, state):
    return (await stream_status(stream)).state == state


async def _says(stream, text):
    current = await stream_status(stream)
    return text in current.last_error or text in current.detail
