"""The stream worker process: the supervisor plus a Channels worker on `genesys-streams`.

Used by `runstreams` on its own event loop, and by `serve` on daphne's loop.
"""

import asyncio
import logging

from channels.layers import get_channel_layer
from channels.routing import ChannelNameRouter
from channels.worker import Worker
from django.conf import settings

from streams import ports
from streams.knowledge.automatic import AutomaticQueries
from streams.knowledge.hub import KnowledgeHub
from streams.knowledge.warming import KnowledgeWarmer
from streams.privacy import detect
from streams.webhooks.delivery import WebhookDispatcher
from streams.webhooks.genesys import FeedbackSender
from streams.worker.consumer import STREAMS_CHANNEL, StreamWorkerConsumer
from streams.worker.supervisor import StreamSupervisor, default_worker_id

logger = logging.getLogger(__name__)

LISTENER_RETRY_SECONDS = 5.0


class StreamWorkerProcess:
    def __init__(
        self,
        *,
        worker_id: str | None = None,
        reconcile_seconds: float | None = None,
        lease_seconds: float | None = None,
    ):
        worker_id = worker_id or default_worker_id()
        detect.warm_up()
        self.automatic_queries = AutomaticQueries(worker=worker_id)
        self.supervisor = StreamSupervisor(
            worker_id=worker_id,
            reconcile_seconds=reconcile_seconds,
            lease_seconds=lease_seconds,
            on_insights=self.automatic_queries.offer,
        )
        self.layer = get_channel_layer()
        application = ChannelNameRouter(
            {STREAMS_CHANNEL: StreamWorkerConsumer.as_asgi(supervisor=self.supervisor)}
        )
        self.channel_worker = Worker(application, [STREAMS_CHANNEL], self.layer)
        self.dispatcher = WebhookDispatcher(worker=self.supervisor.worker_id)
        self.feedback = FeedbackSender(worker=self.supervisor.worker_id)
        self.warmer = KnowledgeWarmer(worker=self.supervisor.worker_id)

    async def run(self) -> None:
        """Run until `stop()`; then every stream stores its buffer and closes its socket."""
        outbound_tasks = (
            [
                asyncio.create_task(self.dispatcher.run(), name="webhook-dispatcher"),
                asyncio.create_task(self.feedback.run(), name="genesys-feedback"),
            ]
            if settings.WEBHOOKS_IN_STREAM_WORKER
            else []  # `manage.py runwebhooks` delivers them
        )
        helpers = [
            asyncio.create_task(self._listen(), name="genesys-streams-listener"),
            *outbound_tasks,
            asyncio.create_task(self.warmer.run(), name="knowledge-warmer"),
            asyncio.create_task(self.automatic_queries.run(), name="automatic-knowledge-queries"),
            *(
                asyncio.create_task(task(self.supervisor.worker_id), name=task.__name__)
                for task in ports.WORKER_TASKS
            ),
        ]
        try:
            await self.supervisor.run()
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await KnowledgeHub.current().close()

    def stop(self) -> None:
        logger.info("stream worker stopping")
        self.supervisor.stop()

    async def _listen(self) -> None:
        """Listen for nudges; when the channel layer fails, the periodic reconcile carries on."""
        while True:
            try:
                await self.channel_worker.arun()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning(
                    "channel layer listener failed (%s); nudges are lost until it is back, "
                    "streams still reconcile every few seconds",
                    exc,
                )
                await asyncio.sleep(LISTENER_RETRY_SECONDS)
