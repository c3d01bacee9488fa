from django.core.management.base import BaseCommand, CommandError

from audit.oversight.models import SecondReview
from audit.privacy.rechain import ChainNotIntact, rechain
from audit.trail.models import AuditEntry
from audit.trail.record import audit_record, command_actor
from streams.privacy import current
from streams.privacy.existing import PLACES, Place, redact_batch

REDACT_ACTION = "privacy.redact"
ALL_PLACES = [*PLACES, Place("second reviews", SecondReview, ("second_note", "ruling_note"))]


class Command(BaseCommand):
    help = (
        "Take personal data out of what earlier versions stored: insights, knowledge queries, "
        "quarantined frames, webhook outbox and deliveries, verdicts for Genesys, second "
        "reviews, in batches (each batch an audit entry; a second run resumes after the last "
        "one), then the audit trail itself, re-chained under a checkpoint that keeps the old "
        "head's hash and the reason, so verify_audit still passes. --dry-run counts only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count; change nothing.")
        parser.add_argument("--batch-size", type=int, default=2000)
        parser.add_argument(
            "--restart", action="store_true", help="Start every place from its first row."
        )
        parser.add_argument(
            "--reason",
            default="personal data taken out of what earlier versions stored",
            help="Why (kept in the trail's re-chaining checkpoint).",
        )
        parser.add_argument(
            "--no-trail", action="store_true", help="Leave the audit trail as it is."
        )

    def handle(self, *args, **options):
        detector = current.detector()
        actor = command_actor("redact_existing")
        dry_run, size = options["dry_run"], max(1, options["batch_size"])
        for place in ALL_PLACES:
            after = None if options["restart"] or dry_run else _resumed_after(place)
            scanned = changed = 0
            while True:
                batch = redact_batch(place, detector, after=after, size=size, dry_run=dry_run)
                if not batch.scanned:
                    break
                scanned, changed, after = (
                    scanned + batch.scanned,
                    changed + batch.changed,
                    batch.last_id,
                )
                if not dry_run:
                    audit_record(
                        action=REDACT_ACTION,
                        actor_label=actor,
                        object_type="privacy",
                        object_id=place.name,
                        object_repr=f"{batch.changed:,} of {batch.scanned:,} {place.name} cleaned",
                        after={
                            "place": place.name,
                            "last_id": batch.last_id,
                            "scanned": batch.scanned,
                            "changed": batch.changed,
                            "found": batch.found,
                        },
                    )
            verb = "would be cleaned" if dry_run else "cleaned"
            resumed = f" (resumed after id {after})" if after is not None and not scanned else ""
            self.stdout.write(f"{place.name}: {changed:,} of {scanned:,} {verb}{resumed}")
        if options["no_trail"]:
            return
        try:
            result = rechain(
                reason=options["reason"],
                actor_label=actor,
                detector=detector,
                dry_run=dry_run,
                progress=self.stdout.write,
            )
        except ChainNotIntact as exc:
            raise CommandError(str(exc)) from None
        if dry_run or not result.changed:
            return
        self.stdout.write(
            f"audit trail: entries {result.first_id} to {result.last_id} re-chained; "
            f"checkpoint entry {result.checkpoint_id} keeps the old head's hash. "
            "python manage.py verify_audit checks it."
        )


def _resumed_after(place: Place):
    last = (
        AuditEntry.objects.filter(action=REDACT_ACTION, object_id=place.name)
        .order_by("-id")
        .values_list("after", flat=True)
        .first()
    )
    return last["last_id"] if isinstance(last, dict) else None
