import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from assistgov import memory
from audit.review.exports import EXPORTS, chunks, queryset_for
from audit.trail.access import record_download
from audit.trail.record import command_actor


class Command(BaseCommand):
    help = (
        "Write insights, review decisions or the audit trail as CSV, the same as the browser "
        "download: UTF-8, ISO-8601 UTC times, formula-like cells neutralised."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=sorted(EXPORTS))
        parser.add_argument("--since", help="ISO-8601 time, inclusive (e.g. 2026-11-01T00:00Z).")
        parser.add_argument("--until", help="ISO-8601 time, exclusive.")
        parser.add_argument("-o", "--output", help="Write to this file instead of standard output.")

    def handle(self, *args, **options):
        kind = options["kind"]
        parameters = {key: options[key] for key in ("since", "until") if options[key]}
        try:
            queryset = queryset_for(kind, parameters)
        except ValidationError as exc:
            raise CommandError(exc.messages[0]) from None
        record_download(
            kind=kind,
            what=f"{kind} CSV",
            parameters=parameters,
            actor_label=command_actor("export_csv"),
            output=options["output"] or "stdout",
        )
        started = time.monotonic()
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8", newline="") as handle:
                for chunk in chunks(kind, queryset):
                    handle.write(chunk)
        else:
            for chunk in chunks(kind, queryset):
                self.stdout.write(chunk, ending="")
        if options["verbosity"] >= 2:
            self.stderr.write(
                f"export_csv {kind}: written in {time.monotonic() - started:.2f} s; "
                f"{memory.report()}"
            )
