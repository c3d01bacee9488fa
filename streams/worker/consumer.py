"""The stream worker's channel, `genesys-streams`: configuration changes nudge it (after their
transaction commits) and its Channels consumer passes the nudge to the supervisor."""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.consumer import AsyncConsumer
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

STREAMS_CHANNEL = "genesys-streams"


class StreamWorkerConsumer(AsyncConsumer):
    supervisor = None

    def __init__(self, supervisor=None):
        self.supervisor = supervisor

    async def streams_reconcile(self, message):
        self.supervisor.nudge()


_pending_nudges: set[asyncio.Task] = set()


def nudge_stream_worker() -> None:
    """Ask the stream worker to reconcile now (called on commit, from sync code)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(_send_nudge)()
    else:
        # Sync code running inside an event loop's thread (rare): send without blocking it.
        task = loop.create_task(_send_nudge())
        _pending_nudges.add(task)
        task.add_done_callback(_pending_nudges.discard)


async def _send_nudge() -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.send(STREAMS_CHANNEL, {"type": "streams.reconcile"})
    except ChannelFull:
        logger.debug("stream worker channel is full: a reconcile is already queued")
    except Exception as exc:
        logger.warning("cannot nudge the stream worker (%s); it reconciles periodically", exc)
