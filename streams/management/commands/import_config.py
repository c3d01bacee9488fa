import json
import sys

from django.core.management.base import BaseCommand, CommandError
from pydantic import ValidationError

from streams.config.documents import ConfigImportError, config_import


class Command(BaseCommand):
    help = (
        "Create or update connections, confidence matrices and streams from a JSON document "
        "(see export_config). Objects are matched by name; one error and nothing changes."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The JSON document, or - for standard input.")

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
            counts = config_import(data, source="import_config")
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
