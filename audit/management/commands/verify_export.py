import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.signed_exports import check_file


class Command(BaseCommand):
    help = (
        "Check an audit export against its signed manifest, offline (no database needed): "
        "the signature, the file's SHA-256 and row count, its first and last entries, and "
        "(for an unfiltered export) that each entry links to the one before it."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("manifest")
        parser.add_argument(
            "--public-key",
            help="The signing key's public half, as published (the audit trail page, the "
            "admin). Without it, the manifest's own key is used, which proves the file "
            "matches the manifest but not who signed it.",
        )

    def handle(self, *args, **options):
        try:
            manifest = json.loads(Path(options["manifest"]).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the manifest: {exc}") from None
        if not isinstance(manifest, dict):
            raise CommandError("the manifest is not a JSON object")
        try:
            problems, checked = check_file(options["file"], manifest, options["public_key"])
        except OSError as exc:
            raise CommandError(f"cannot read the file: {exc}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise CommandError(f"the file is not an audit export: {exc}") from None
        for line in checked:
            self.stdout.write(f"ok: {line}")
        if not options["public_key"]:
            self.stdout.write(
                "note: no --public-key given: compare the key above with the one published"
            )
        if problems:
            raise CommandError("export NOT verified: " + "; ".join(problems))
        self.stdout.write("export verified")
