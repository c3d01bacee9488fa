"""The embedded deployment: daphne, the stream worker and (optionally) the simulator, one loop."""

import asyncio
import logging
import socket

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from streams.management.commands.demo_setup import DEMO_QUEUES
from streams.simulator.cli import add_simulator_arguments, config_from_options

logger = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 15.0


class EmbeddedServices:
    """What runs beside daphne on its event loop; started once the reactor runs."""

    def __init__(
        self, *, streams: bool, simulator_config, simulator_host: str, simulator_port: int
    ):
        self.streams = streams
        self.simulator_config = simulator_config
        self.simulator_host = simulator_host
        self.simulator_port = simulator_port
        self.simulator = None
        self.worker = None
        self.worker_task = None

    async def start(self) -> None:
        from streams.simulator.server import Simulator
        from streams.worker.process import StreamWorkerProcess

        if self.simulator_config is not None:
            self.simulator = Simulator(self.simulator_config)
            await self.simulator.start(self.simulator_host, self.simulator_port)
        if self.streams:
            self.worker = StreamWorkerProcess()
            self.worker_task = asyncio.create_task(self.worker.run(), name="stream-worker")

    async def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            try:
                await asyncio.wait_for(asyncio.shield(self.worker_task), SHUTDOWN_TIMEOUT)
            except TimeoutError:
                logger.warning("stream worker did not stop within %.0f s", SHUTDOWN_TIMEOUT)
        if self.simulator is not None:
            await self.simulator.stop()


class Command(BaseCommand):
    help = (
        "Run assistgov in one process: the web app (daphne), the stream worker and, unless "
        "--no-simulator, the Genesys simulator. Ctrl-C or SIGTERM stops everything cleanly."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-streams", action="store_true", help="Do not run the stream worker."
        )
        parser.add_argument("--no-simulator", action="store_true", help="Do not run the simulator.")
        parser.add_argument("--simulator-host", default="127.0.0.1")
        parser.add_argument("--simulator-port", type=int, default=8001)
        parser.add_argument(
            "--check-ports",
            action="store_true",
            help="Only check that the ports are free (exit 1 saying which is not); `make "
            "demo` runs this before anything else.",
        )
        # The demo's stream follows the simulator's queues (demo_setup).
        add_simulator_arguments(parser, prefix="simulator-", queues=DEMO_QUEUES)

    def handle(self, *args, **options):
        taken = ports_taken(options)
        if taken:
            raise CommandError("; ".join(taken))
        if options["check_ports"]:
            return
        # daphne.server installs Twisted's asyncio reactor on import: import it first.
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server
        from twisted.internet import defer, reactor

        from assistgov.asgi import application

        services = EmbeddedServices(
            streams=not options["no_streams"],
            simulator_config=None
            if options["no_simulator"]
            else config_from_options(options, prefix="simulator-"),
            simulator_host=options["simulator_host"],
            simulator_port=options["simulator_port"],
        )

        def start():
            task = asyncio.ensure_future(services.start())
            task.add_done_callback(_stop_reactor_on_failure)

        def _stop_reactor_on_failure(task):
            if not task.cancelled() and task.exception() is not None:
                logger.error("embedded services failed to start", exc_info=task.exception())
                reactor.stop()

        def stop():
            return defer.Deferred.fromFuture(asyncio.ensure_future(services.stop()))

        reactor.callWhenRunning(start)
        reactor.addSystemEventTrigger("before", "shutdown", stop)
        self.announce(options)
        Server(
            application=application,
            endpoints=build_endpoint_description_strings(
                host=options["host"], port=options["port"]
            ),
            signal_handlers=True,
            verbosity=0,
        ).run()

    def announce(self, options):
        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(f"assistgov on {url} (admin: {url}admin/)")
        if not options["no_simulator"]:
            self.stdout.write(
                f"Genesys simulator on http://{options['simulator_host']}:{options['simulator_port']}"
            )
        if settings.DEBUG:
            self.stdout.write("DEBUG is on: development settings. Set DEBUG=false in production.")
        self.stdout.write("Ctrl-C stops everything cleanly.")


def ports_taken(options) -> list[str]:
    """What is in use of the ports this run would listen on, in words saying what to do."""
    wanted = [("web", options["host"], options["port"], "PORT")]
    if not options["no_simulator"]:
        wanted.append(
            ("simulator", options["simulator_host"], options["simulator_port"], "SIMULATOR_PORT")
        )
    taken = []
    for what, host, port, variable in wanted:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                taken.append(
                    f"port {port} ({what}) is in use; choose another with {variable}=... "
                    f"(make demo {variable}={port + 100})"
                )
    return taken
