from datetime import datetime, time
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from assistgov import memory
from audit.reports import evidence
from audit.trail import signing
from audit.trail.csvfiles import parse_time
from audit.trail.record import command_actor


def moment(value: str, name: str) -> datetime:
    """A date (its midnight in the display time zone) or an ISO-8601 time."""
    try:
        if len(value) == 10:
            day = datetime.fromisoformat(value).date()
            return timezone.make_aware(datetime.combine(day, time()))
        return parse_time(value, name)
    except (ValueError, ValidationError):
        raise CommandError(
            f"--{name} {value!r} is not a date (2026-11-01) or an ISO-8601 time"
        ) from None


class Command(BaseCommand):
    help = (
        "Write the evidence pack for a period: one ZIP a supervisor reads (report.html "
        "first), with the decisions, the overseers, the oversight figures, incidents, "
        "configuration and its changes, retention, the period's audit trail and the chain's "
        "check, and a manifest signed by AUDIT_SIGNING_KEY beside it (FILE.manifest.json). "
        "Check both offline with verify_export."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="A date or ISO time, inclusive.")
        parser.add_argument("--until", required=True, help="A date or ISO time, exclusive.")
        parser.add_argument("-o", "--output", required=True, help="The ZIP file to write.")

    def handle(self, *args, **options):
        since, until = moment(options["since"], "since"), moment(options["until"], "until")
        if since >= until:
            raise CommandError("--since must be before --until")
        output = Path(options["output"])
        try:
            manifest = evidence.generate(
                output,
                since=since,
                until=until,
                actor_label=command_actor("evidence"),
                progress=lambda name, done, total: self.stderr.write(
                    f"[{done + 1}/{total}] {name}"
                ),
            )
        except signing.NoSigningKey as exc:
            raise CommandError(str(exc)) from None
        if options["verbosity"] >= 2:
            self.stderr.write(f"evidence: {memory.report()}")
        self.stdout.write(
            f"evidence pack written to {output.name} ({len(manifest['members'])} files, "
            f"SHA-256 {manifest['sha256']}); manifest {output.name}.manifest.json, signed by "
            f"key {manifest['public_key']}"
        )
