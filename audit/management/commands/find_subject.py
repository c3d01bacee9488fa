from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audit.formats import people_time
from audit.privacy.subjects import find_subject
from audit.trail.record import command_actor


class Command(BaseCommand):
    help = (
        "Which conversations mentioned a data subject's e-mail address, phone number, card "
        "number or IBAN, found by its keyed hash (nothing stores the value itself). The "
        "lookup is an audit entry (the kind, not the value)."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        for kind, what in (
            ("email", "an e-mail address"),
            ("phone", "a phone number (national numbers are read for the configured regions)"),
            ("card", "a card number"),
            ("iban", "an IBAN"),
        ):
            which.add_argument(f"--{kind}", metavar="VALUE", help=f"Look for {what}.")

    def handle(self, *args, **options):
        kind = next(k for k in ("email", "phone", "card", "iban") if options[k])
        try:
            found = find_subject(
                kind=kind, value=options[kind], actor_label=command_actor("find_subject")
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if not found:
            self.stdout.write("No conversation mentioned it (or its conversations were erased).")
            return
        self.stdout.write(f"{len(found)} conversation(s) mentioned it:")
        for row in found:
            self.stdout.write(
                f"  {row['conversation_id']}  first seen {people_time(row['first_seen'])}; "
                f"{row['insights']} insight(s), {row['knowledge_queries']} knowledge query(ies)"
            )
        self.stdout.write(
            "Erase one with: python manage.py erase --conversation ID --reason TEXT "
            "[--request REFERENCE]"
        )
