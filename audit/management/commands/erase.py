from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audit.privacy.erasure import ErasureRefused, erase_conversation
from audit.trail.record import command_actor


class Command(BaseCommand):
    help = (
        "Erase one conversation's texts everywhere they are kept (insights, summaries, "
        "knowledge queries and results, quarantined frames, webhook outbox and deliveries, "
        "verdicts for Genesys, the knowledge cache), destroy its data key (its sealed "
        "originals become unreadable) and its subject hashes. Refused while a legal hold "
        "covers it. The erasure is an audit entry with the reference, reason and counts; "
        "the chain stays verifiable. From the admin, an erasure needs a second person."
    )

    def add_arguments(self, parser):
        parser.add_argument("--conversation", required=True, help="The conversation id.")
        parser.add_argument(
            "--reason", required=True, help="Why: the data subject's request and its grounds."
        )
        parser.add_argument(
            "--request", default="", metavar="REFERENCE", help="The request's reference."
        )

    def handle(self, *args, **options):
        try:
            counts = erase_conversation(
                options["conversation"],
                reason=options["reason"],
                reference=options["request"],
                actor_label=command_actor("erase"),
            )
        except ErasureRefused as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        touched = {place: n for place, n in counts.items() if n}
        if not touched:
            self.stdout.write(
                f"Nothing of conversation {options['conversation']} is stored; the request is "
                "recorded in the audit trail."
            )
            return
        self.stdout.write(f"Conversation {options['conversation']} erased:")
        for place, n in touched.items():
            self.stdout.write(f"  {place}: {n:,}")
