"""A task cancelled while its database call runs in a thread stops once the call is over."""

import asyncio
import contextlib
import threading

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async as channels_database_sync_to_async

from assistgov.asyncdb import database_sync_to_async
from streams import live

# Channels' call retires aged connections first, which touches the database connection.
pytestmark = pytest.mark.django_db(transaction=True)


async def announce(release: threading.Event) -> None:
    await asyncio.to_thread(release.wait)


def blocking_call(started: threading.Event, release: threading.Event, done: list) -> str:
    """Stores, then tells the pages through the event loop, as `store_batch` does; a failed
    announcement does not undo what was stored."""
    started.set()
    with contextlib.suppress(BaseException):
        async_to_sync(announce)(release)
    done.append(True)
    return "stored"


async def run_then_continue(wrap, started, release, done, carried_on: asyncio.Event) -> None:
    await wrap(blocking_call)(started, release, done)
    carried_on.set()  # a task told to stop must not get here
    await asyncio.Event().wait()  # ... and would then wait forever


async def cancelled_mid_call(wrap) -> tuple[asyncio.Task, list, bool]:
    started, release, done, carried_on = threading.Event(), threading.Event(), [], asyncio.Event()
    task = asyncio.create_task(run_then_continue(wrap, started, release, done, carried_on))
    try:
        starting = asyncio.ensure_future(asyncio.to_thread(started.wait))
        await asyncio.wait({task, starting}, return_when=asyncio.FIRST_COMPLETED)
        assert not task.done(), f"the call did not start: {task.exception()!r}"
        # The thread is running the call: cancel the task while it does.
        task.cancel()
        await asyncio.sleep(0)
    finally:
        release.set()
        started.set()  # frees the helper thread whatever happened
    carrying_on = asyncio.create_task(carried_on.wait())
    await asyncio.wait({task, carrying_on}, return_when=asyncio.FIRST_COMPLETED)
    carrying_on.cancel()
    return task, done, carried_on.is_set()


async def test_a_cancellation_during_the_call_is_raised_once_the_call_is_over():
    task, done, carried_on = await cancelled_mid_call(database_sync_to_async)
    assert task.cancelled()
    assert done == [True], "what the call did is kept"
    assert not carried_on


async def test_channels_own_call_loses_that_cancellation():
    """Why the wrapper exists: without it the task carries on as if never told to stop."""
    task, done, carried_on = await cancelled_mid_call(channels_database_sync_to_async)
    assert not task.done()
    assert done == [True]
    assert carried_on
    task.cancel()  # now awaiting an Event: this one is delivered
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cleanup_in_an_already_cancelled_task_still_runs_its_calls():
    """A runner's shutdown records its final state after it was cancelled: the wrapper
    raises only a cancellation that arrived during the call."""
    recorded = []

    async def runner():
        try:
            await asyncio.Event().wait()
        finally:
            recorded.append(await database_sync_to_async(lambda: "first")())
            recorded.append(await database_sync_to_async(lambda: "second")())

    task = asyncio.create_task(runner())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recorded == ["first", "second"]


class SwallowingLayer:
    """A channel layer whose send loses a cancellation, as redis-py's can."""

    def __init__(self):
        self.sending = asyncio.Event()

    async def group_send(self, group, message):
        self.sending.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return  # swallowed


@pytest.mark.parametrize("send", ["insights", "health"])
async def test_a_live_update_that_loses_a_cancellation_still_stops_its_sender(send):
    layer = SwallowingLayer()
    carried_on = asyncio.Event()

    async def writer():
        if send == "insights":
            await live.announce_insights(layer, [1, 2])
        else:
            await live.announce_health(layer)
        carried_on.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(writer())
    await layer.sending.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not carried_on.is_set()
