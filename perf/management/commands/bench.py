import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand

from perf import bench, runner


class Command(BaseCommand):
    help = (
        "Measure ingest, live updates to 100 review pages, CSV export, the main pages and the "
        "idle demo, against the machine's ceiling in the same run, on scratch databases "
        "(never the one in use); each section runs three times, the median printed with the "
        "spread. Prints a table; --json writes the same figures. PostgreSQL figures appear "
        "when DATABASE_URL points at it; --scaled measures the scaled deployment instead."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--quick", action="store_true", help="Fewer events and rows (under a minute)."
        )
        parser.add_argument("--json", metavar="FILE", help="Also write the figures here.")
        parser.add_argument("--events", type=int, help="Insights to ingest (default 200,000).")
        parser.add_argument(
            "--csv-rows", type=int, help="Insights to export and page (default 1,000,000)."
        )
        parser.add_argument(
            "--live-seconds",
            type=float,
            help="How long the live section measures (default 20, 6 with --quick).",
        )
        parser.add_argument(
            "--backlog",
            type=int,
            help="Pending items behind the review page in the browser section (default 50,000).",
        )
        parser.add_argument(
            "--decisions",
            type=int,
            help="Approvals from the keyboard in the browser section (default 200).",
        )
        parser.add_argument(
            "--live-pages",
            type=int,
            help="Review pages open during the live section (default 100).",
        )
        parser.add_argument(
            "--scaled",
            action="store_true",
            help="The scaled deployment: 2 daphne and 2 runstreams processes, 4 streams, on "
            "PostgreSQL (DATABASE_URL) and Redis (REDIS_URL), then a worker killed.",
        )
        parser.add_argument(
            "--runs",
            type=int,
            default=runner.RUNS,
            help=f"Runs of each section; the median is printed (default {runner.RUNS}).",
        )
        parser.add_argument(
            "--rate-steps",
            type=int,
            default=runner.RATE_STEPS,
            help="Live runs looking for the highest rate the pages keep up with "
            f"(default {runner.RATE_STEPS}; 0 skips).",
        )
        parser.add_argument(
            "--idle-seconds",
            type=float,
            default=runner.IDLE_SECONDS,
            help=f"The idle demo's measured window (default {runner.IDLE_SECONDS:g}).",
        )
        # Internal: one section, run by the parent in a process of its own.
        parser.add_argument(
            "--section",
            choices=[
                *("ingest", "ingest_undetected", "webhooks", "live", "commits", "csv"),
                *("browser", "scaled", "evidence"),
            ],
            help="(internal)",
        )
        parser.add_argument("--sim", default="", help="(internal) the simulator's URL")
        parser.add_argument("--out", help="(internal) where a section writes its figures")

    def handle(self, *args, **options):
        plan = runner.Plan(
            options["quick"],
            options["events"],
            options["csv_rows"],
            options["live_seconds"],
            options["live_pages"],
            options["backlog"],
            options["decisions"],
            runs=max(1, options["runs"]),
            rate_steps=options["rate_steps"],
            idle_seconds=options["idle_seconds"],
            scaled=options["scaled"],
        )
        if options["section"]:
            self.section(options["section"], plan, options["sim"], Path(options["out"]))
            return
        started = time.monotonic()
        figures = bench.run(plan, log=lambda text: self.stderr.write(text))
        figures["duration_s"] = round(time.monotonic() - started, 1)
        self.stdout.write(bench.table(figures))
        self.stdout.write(f"({figures['duration_s']} s)")
        if options["json"]:
            Path(options["json"]).write_text(json.dumps(figures, indent=2) + "\n")

    def section(self, name: str, plan, sim_url: str, out: Path) -> None:
        """One section in this process: its figures, or why it could not measure them, to
        `out` (an unexpected error is raised too, so its traceback is printed)."""
        try:
            figures = bench.run_section(name, plan=plan, sim_url=sim_url)
        except runner.Unmeasured as exc:
            figures = {"error": str(exc)}
        except Exception as exc:
            out.write_text(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
            raise
        out.write_text(json.dumps(figures))
