from django.core.management.base import BaseCommand, CommandError

from audit.chain import Head
from audit.verification import verify_and_record


class Command(BaseCommand):
    help = (
        "Recompute the audit trail's hash chain and HMACs; exit non-zero at the first broken "
        "link, or when the chain no longer holds a head published earlier (--expect-head). "
        "The result is recorded in the trail (audit.verify or audit.chain_broken)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--expect-head",
            metavar="ID:HASH",
            help="A head the chain published earlier (log, /metrics or an audit.head webhook): "
            "the chain must still hold that entry with that hash.",
        )

    def handle(self, *args, **options):
        expected = None
        if options["expect_head"]:
            try:
                expected = Head.parse(options["expect_head"])
            except ValueError as exc:
                raise CommandError(f"--expect-head: {exc}") from None
        result = verify_and_record(trigger="verify_audit command", expect_head=expected)
        if not result.intact:
            raise CommandError(
                f"audit chain broken after {result.checked} intact entries: {result.problem}"
            )
        head = f"; head {result.head}" if result.head else ""
        held = f"; it holds the expected head {expected}" if expected else ""
        self.stdout.write(f"audit chain intact: {result.checked} entries verified{head}{held}")
        for purged in result.purged:
            self.stdout.write(f"before them: {purged}")
