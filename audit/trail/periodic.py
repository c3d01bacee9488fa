"""Jobs a stream worker runs once per period for the whole deployment (the chain check, the
retention purge): the first worker to claim a period in the shared cache runs it.

A job is synchronous database work in a thread. It does not delay a worker's start (the
first run is a little after it) or its stop: cancelling the task asks the job to stop at
its next safe point (`Stop.check`), and waits only for that."""

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from django.core.cache import cache

from assistgov.asyncdb import database_sync_to_async

logger = logging.getLogger(__name__)
FIRST_RUN_AFTER_SECONDS = 60.0


class Stopped(Exception):
    """The job was asked to stop (its worker is stopping); what it finished is kept."""


class Stop:
    def __init__(self):
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def check(self) -> None:
        if self._event.is_set():
            raise Stopped


async def every_period(name: str, interval: float, worker: str, job: Callable[[Stop], object]):
    """Run `job` once per `interval` seconds across every worker, until cancelled."""
    await asyncio.sleep(min(interval, FIRST_RUN_AFTER_SECONDS))
    while True:
        period = int(time.time() // interval)
        try:
            if await cache.aadd(f"{name}:{period}", worker, timeout=interval * 2):
                await _run(job)
        except Stopped:
            logger.info("%s stopped part-way: its worker is stopping", name)
        except Exception:
            logger.exception("%s failed; trying next period", name)
        await asyncio.sleep(interval - time.time() % interval)


async def _run(job: Callable[[Stop], object]) -> None:
    stop = Stop()
    running = asyncio.ensure_future(database_sync_to_async(job)(stop))
    try:
        await asyncio.shield(running)
    except asyncio.CancelledError:
        stop.set()
        await asyncio.gather(running, return_exceptions=True)
        raise
