from django.core.management.base import BaseCommand, CommandError

from audit.trail.chain import Head
from audit.trail.checkpoints import CheckpointsUnreadable
from audit.trail.record import command_actor
from audit.trail.signing import NoPinnedKey
from audit.trail.verification import verify_and_record


class Command(BaseCommand):
    help = (
        "Recompute the audit trail's hash chain and HMACs; exit non-zero at the first broken "
        "link, or when the chain no longer holds a head published earlier (--expect-head, "
        "--checkpoints). The result is recorded in the trail (audit.verify or "
        "audit.chain_broken)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--expect-head",
            metavar="ID:HASH",
            help="A head the chain published earlier (log, /metrics or an audit.head webhook): "
            "the chain must still hold that entry with that hash.",
        )
        parser.add_argument(
            "--checkpoints",
            metavar="DIR_OR_URL",
            help="Published signed checkpoints (AUDIT_CHECKPOINT_DIR, a file of them, or an "
            "http(s) URL that serves them): the chain must hold every head they vouch for, "
            "unless a recorded retention purge removed it.",
        )
        parser.add_argument(
            "--public-key",
            help="The key the checkpoints must be signed by (default AUDIT_PUBLIC_KEY, else "
            "the public half of AUDIT_SIGNING_KEY).",
        )

    def handle(self, *args, **options):
        expected = None
        if options["expect_head"]:
            try:
                expected = Head.parse(options["expect_head"])
            except ValueError as exc:
                raise CommandError(f"--expect-head: {exc}") from None
        try:
            result = verify_and_record(
                actor_label=command_actor("verify_audit"),
                trigger="verify_audit command",
                expect_head=expected,
                checkpoint_source=options["checkpoints"] or "",
                public_key=options["public_key"],
            )
        except (CheckpointsUnreadable, NoPinnedKey) as exc:
            raise CommandError(f"--checkpoints: {exc}") from None
        if not result.intact:
            raise CommandError(
                f"audit chain broken after {result.checked} intact entries: {result.problem}"
            )
        head = f"; head {result.head}" if result.head else ""
        held = f"; it holds the expected head {expected}" if expected else ""
        self.stdout.write(f"audit chain intact: {result.checked} entries verified{head}{held}")
        if options["checkpoints"]:
            purged = "".join(
                f" ({n} of them {how})"
                for n, how in (
                    (result.heads_purged, "removed by recorded retention purges"),
                    (result.heads_rechained, "re-chained since, by recorded checkpoints"),
                )
                if n
            )
            self.stdout.write(
                f"it holds every one of {result.checkpoints_checked} published "
                f"checkpoint(s){purged}"
            )
        for purged in result.purged:
            self.stdout.write(f"before them: {purged}")
        for rechained in result.rechained:
            self.stdout.write(f"within them: {rechained}")
