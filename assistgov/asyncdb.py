"""Database calls from the event loop that a cancellation stops.

Channels' `database_sync_to_async` (asgiref's `sync_to_async`, plus retiring aged
connections) runs the ORM in a thread. When the awaiting task is cancelled while that
thread is already running the call, asgiref waits for the call to finish and then returns
its result as if nothing had happened: the cancellation is lost. A stream's reader told to
stop while it records its state would carry on with its socket open, the worker's shutdown
would wait for it forever, and its lease would lapse while it still streamed.

`database_sync_to_async` here is the same call, except that a cancellation requested
while the thread ran is raised once the call is over (what the call did is kept). Use it
in every long-running task that can be cancelled: stream runners, the supervisor, the
worker's helpers.

`cancellable` does the same for any other await that can lose a cancellation: a web
request's asgiref call, and the Redis channel layer's `group_send` (redis-py loses one
that lands at the wrong moment; seen as a stream writer that would not stop).
"""

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor

from channels.db import DatabaseSyncToAsync
from channels.db import database_sync_to_async as channels_database_sync_to_async


def database_sync_to_async(function):
    return cancellable(channels_database_sync_to_async(function))


def own_thread(name: str) -> ThreadPoolExecutor:
    """A thread, with a database connection of its own, for a task whose database work must
    not queue behind everyone else's in the one thread `database_sync_to_async` uses (the
    webhook dispatcher beside the ingest writer)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)


def database_sync_to_async_in(executor: ThreadPoolExecutor, function):
    """`database_sync_to_async`, run in `executor` (see `own_thread`)."""
    return cancellable(DatabaseSyncToAsync(function, thread_sensitive=False, executor=executor))


def cancellable(call):
    """`call` (an awaitable function), raising a cancellation it would have lost."""

    @functools.wraps(call)
    async def run(*args, **kwargs):
        task = asyncio.current_task()
        requested = task.cancelling() if task is not None else 0
        result = await call(*args, **kwargs)
        if task is not None and task.cancelling() > requested:
            raise asyncio.CancelledError
        return result

    return run
