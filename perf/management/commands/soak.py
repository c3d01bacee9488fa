import asyncio

from django.core.management.base import BaseCommand, CommandError

from perf.soak import Soak


class Command(BaseCommand):
    help = (
        "Run the simulator and stream workers for N minutes with a random fault every few "
        "seconds, then account for every event: sent, stored, duplicated, lost. Exits 1 if "
        "any event was lost or stored twice. It creates its own connection and streams "
        "(soak-...) in the configured database: point DATABASE_URL at a scratch one."
    )

    def add_arguments(self, parser):
        parser.add_argument("--minutes", type=float, default=10.0)
        parser.add_argument("--rate", type=float, default=50.0, help="Events per second.")
        parser.add_argument(
            "--fault-every", type=float, default=3.0, help="Mean seconds between faults."
        )
        parser.add_argument("--streams", type=int, default=2)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, **options):
        soak = Soak(
            minutes=options["minutes"],
            rate=options["rate"],
            fault_every=options["fault_every"],
            streams=options["streams"],
            workers=options["workers"],
            seed=options["seed"],
        )
        report = asyncio.run(soak.run())
        for line in report.lines():
            self.stdout.write(line)
        if report.lost or report.stored_twice:
            raise CommandError(f"{report.lost} events lost, {report.stored_twice} stored twice")
