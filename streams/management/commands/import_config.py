import json
import sys

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management.base import BaseCommand, CommandError
from pydantic import ValidationError

from streams.config.changes import change_request_for_import, four_eyes_on
from streams.config.documents import ConfigImportError, config_import


class Command(BaseCommand):
    help = (
        "Create or update connections, confidence matrices and streams from a JSON document "
        "(see export_config). Objects are matched by name; one error and nothing changes. With "
        "FOUR_EYES on, the import becomes one change request for a second admin to accept."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The JSON document, or - for standard input.")
        parser.add_argument(
            "--as",
            dest="author",
            metavar="USERNAME",
            help="Under four-eyes, whose request this is: a governance admin, who then cannot "
            "accept it (required when FOUR_EYES is on).",
        )

    def handle(self, *args, **options):
        path = options["file"]
        try:
            if path == "-":
                data = json.load(sys.stdin)
            else:
                with open(path, encoding="utf-8") as handle:
                    data = json.load(handle)
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise CommandError(f"{path} is not valid JSON: {exc}") from None
        try:
            if four_eyes_on():
                self._propose(data, self._author(options["author"]))
                return
            counts = config_import(data, source="import_config")
        except DjangoValidationError as exc:
            raise CommandError(exc.messages[0]) from None
        except ValidationError as exc:
            lines = [
                f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
                for error in exc.errors()
            ]
            raise CommandError(
                "the document does not fit the schema:\n  " + "\n  ".join(lines)
            ) from None
        except ConfigImportError as exc:
            raise CommandError("nothing imported:\n  " + "\n  ".join(exc.problems)) from None
        self.stdout.write(
            f"Imported: {counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged."
        )

    def _author(self, username: str | None):
        """The governance admin whose request an import under four-eyes is."""
        if not username:
            raise CommandError(
                "Four-eyes is on: an import is someone's change request. Give --as USERNAME "
                "(a governance admin, who then cannot accept it)."
            )
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None or not user.has_perm("streams.decide_changerequest"):
            raise CommandError(f"--as {username}: not an active governance admin")
        return user

    def _propose(self, data: dict, author) -> None:
        change_request = change_request_for_import(data, author=author, source="import_config")
        if change_request is None:
            self.stdout.write("Nothing to import: the configuration already is as it says.")
            return
        self.stdout.write(
            f"Four-eyes is on: nothing is applied yet. Change request {change_request.pk} "
            f"({len(change_request.changes)} object(s): {change_request.summary}) waits for a "
            "governance admin to accept it in the admin (Change requests); it "
            f"expires at {change_request.expires_at:%Y-%m-%d %H:%M} UTC."
        )
