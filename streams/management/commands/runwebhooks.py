import asyncio
import contextlib
import logging
import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from streams.webhooks.delivery import WebhookDispatcher
from streams.webhooks.genesys import FeedbackSender
from streams.worker.supervisor import default_worker_id

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Deliver webhooks and officers' verdicts to Genesys in a process of their own, off "
        "the ingest path (run the stream workers with WEBHOOKS_IN_STREAM_WORKER=false). "
        "Several may run: each claims its own batches. SIGTERM or Ctrl-C stops it; what it "
        "held is delivered by the next one when its claims expire."
    )

    def add_arguments(self, parser):
        parser.add_argument("--worker-id", help="Name kept on each attempt (default host:pid).")

    def handle(self, *args, **options):
        if settings.DEBUG:
            self.stderr.write("DEBUG is on: set DEBUG=false and SECRET_KEY in production.")
        asyncio.run(self.main(options["worker_id"] or f"webhooks-{default_worker_id()}"))

    async def main(self, worker_id: str) -> None:
        tasks = [
            asyncio.create_task(WebhookDispatcher(worker=worker_id).run(), name="webhooks"),
            asyncio.create_task(FeedbackSender(worker=worker_id).run(), name="genesys-feedback"),
        ]
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        logger.info("webhook sender %s started", worker_id)
        await asyncio.wait(
            [*tasks, asyncio.create_task(stopping.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        logger.info("webhook sender %s stopped", worker_id)
