import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand

from perf import bench


class Command(BaseCommand):
    help = (
        "Measure ingest, live updates at 2,000 insights/s to 100 review pages, CSV export and "
        "the main pages, against the machine's ceiling in the same run, on scratch databases "
        "(never the one in use). Prints a table; --json "
        "writes the same figures. PostgreSQL figures appear when DATABASE_URL points at it."
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
        # Internal: one section, run by the parent in a process of its own.
        parser.add_argument(
            "--section",
            choices=["ingest", "webhooks", "live", "commits", "csv", "browser"],
            help="(internal)",
        )
        parser.add_argument("--sim", default="", help="(internal) the simulator's URL")
        parser.add_argument("--out", help="(internal) where a section writes its figures")

    def handle(self, *args, **options):
        plan = bench.Plan(
            options["quick"],
            options["events"],
            options["csv_rows"],
            options["live_seconds"],
            options["live_pages"],
            options["backlog"],
            options["decisions"],
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
        except bench.Unmeasured as exc:
            figures = {"error": str(exc)}
        except Exception as exc:
            out.write_text(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
            raise
        out.write_text(json.dumps(figures))
