from django.core.management.base import BaseCommand

from audit.trail.retention import purge


class Command(BaseCommand):
    help = (
        "Delete what is past its retention (the retention policy in the admin), in batches, "
        "each batch with a checkpoint entry in the audit chain; active legal holds keep what "
        "they cover. A stream worker runs the same purge every day."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would go; delete nothing."
        )
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, **options):
        dry_run = options["dry_run"]
        outcomes = purge(dry_run=dry_run, batch_size=max(1, options["batch_size"]))
        for outcome in outcomes:
            cutoff = f"{outcome.cutoff:%Y-%m-%d %H:%M} UTC"
            if outcome.expired_days:
                verb = "would expire" if dry_run else "expired"
                self.stdout.write(
                    f"{outcome.label}: {outcome.count:,} {verb} (pending more than "
                    f"{outcome.expired_days} days, since before {cutoff}; filtered by rule)"
                )
            elif outcome.held:
                self.stdout.write(f"{outcome.label}: kept, a legal hold is active")
            elif dry_run:
                self.stdout.write(
                    f"{outcome.label}: {outcome.count:,} older than {outcome.months} months "
                    f"(before {cutoff}) would be purged"
                )
            else:
                self.stdout.write(
                    f"{outcome.label}: {outcome.count:,} purged (older than {outcome.months} "
                    f"months, before {cutoff}) in {outcome.batches} batch(es)"
                )
