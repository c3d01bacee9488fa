"""Helpers for tests that run the simulator in the test's event loop."""

import asyncio
import io
import sys
import time
import traceback

import httpx
from channels.db import database_sync_to_async

from streams.genesys.sessions import ClientState
from streams.simulator.server import Simulator, SimulatorConfig


async def start_simulator(**config) -> tuple[Simulator, str]:
    simulator = Simulator(
        SimulatorConfig(
            **{"rate": 0, "hostile_ratio": 0, "personal_ratio": 0, "run_id": "", **config}
        )
    )
    port = await simulator.start("127.0.0.1", 0)
    return simulator, f"http://127.0.0.1:{port}"


async def eventually(
    predicate, *, within: float = 60.0, interval: float = 0.02, what: str = "condition"
):
    """Poll an (a)sync predicate until it is truthy; fail with `what` after `within` seconds
    (a bound against a hang, generous because a busy machine can be several times slower)."""
    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


async def stopped(task: asyncio.Task, *, within: float = 60.0) -> None:
    """Await a stopping worker's task; fail after `within` seconds (a bound against a hang)
    with where every task and thread was waiting, which is what explains one."""
    done, _ = await asyncio.wait({task}, timeout=within)
    if done:
        task.result()
        return
    where = io.StringIO()
    for other in asyncio.all_tasks():
        if not other.done():
            print(f"--- task {other.get_name()}", file=where)
            other.print_stack(limit=12, file=where)
    for ident, frame in sys._current_frames().items():
        print(f"--- thread {ident}", file=where)
        traceback.print_stack(frame, limit=12, file=where)
    raise AssertionError(f"the worker did not stop within {within:.0f} s:\n{where.getvalue()}")


async def subscribed(simulator: Simulator, count: int = 1) -> None:
    """Wait until `count` sockets have their subscription acknowledged.

    A fresh subscription starts at the live end, so events emitted before the ack are not
    sent on it: tests emit only after this.
    """
    await eventually(
        lambda: sum(conn.acked for conn in simulator.connections.values()) >= count,
        what=f"{count} subscribed socket(s)",
    )


class RecordingHandler:
    """A FrameHandler that keeps what it is told, resuming after the last id it saw."""

    def __init__(self, resume_from: str | None = None):
        self.frames: list = []
        self.states: list[tuple[ClientState, str]] = []
        self.resume_from = resume_from
        self.resume_requests: list[str | None] = []

    async def on_frame(self, frame):
        self.frames.append(frame.raw)

    async def on_state(self, state, detail="", retry_in=None):
        self.states.append((state, detail))

    async def resume_after(self):
        self.resume_requests.append(self.resume_from)
        return self.resume_from

    def state_names(self):
        return [state for state, _ in self.states]


async def sim_post(base_url: str, path: str, body: dict) -> dict:
    async with httpx.AsyncClient() as client:
        response = await client.post(base_url + path, json=body)
        response.raise_for_status()
        return response.json()


# A stream in the database, from inside the event loop.


@database_sync_to_async
def stream_on(url: str, **fields):
    """An enabled stream on the simulator at `url`, with a matrix that takes everything."""
    from tests.factories import make_connection, make_matrix, make_stream

    return make_stream(
        connection=make_connection(url=url), matrix=make_matrix(), **{"enabled": True, **fields}
    )


@database_sync_to_async
def stream_status(stream):
    from streams.models import StreamStatus

    return StreamStatus.objects.get(pk=stream.pk)


@database_sync_to_async
def stored_ids(stream) -> list[str]:
    from streams.models import Insight

    return list(Insight.objects.filter(stream=stream).values_list("external_id", flat=True))
