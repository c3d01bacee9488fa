import asyncio
import signal

from django.core.management.base import BaseCommand

from streams.simulator.cli import add_simulator_arguments, config_from_options
from streams.simulator.server import Simulator


class Command(BaseCommand):
    help = (
        "Run the Genesys Cloud simulator alone: OAuth, stream limits, the insights "
        "WebSocket, and the /_sim/ control API."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)
        add_simulator_arguments(parser)

    def handle(self, *args, **options):
        asyncio.run(self.main(options))

    async def main(self, options):
        simulator = Simulator(config_from_options(options))
        port = await simulator.start(options["host"], options["port"])
        self.stdout.write(f"Genesys simulator on http://{options['host']}:{port} (Ctrl-C to stop)")
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopped.set)
        await stopped.wait()
        await simulator.stop()
