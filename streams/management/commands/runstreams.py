import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from streams.worker.process import StreamWorkerProcess


class Command(BaseCommand):
    help = (
        "Run the stream worker: connects every enabled stream and stores what arrives. "
        "SIGTERM or Ctrl-C stops it gracefully (buffers are stored, sockets closed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--worker-id", help="Name shown in the admin (default host:pid).")

    def handle(self, *args, **options):
        if settings.DEBUG:
            self.stderr.write("DEBUG is on: set DEBUG=false and SECRET_KEY in production.")
        asyncio.run(self.main(options["worker_id"]))

    async def main(self, worker_id):
        process = StreamWorkerProcess(worker_id=worker_id)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, process.stop)
        await process.run()
