import json
import zipfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.trail.offline import check_file, what_it_proves
from audit.trail.signing import NoPinnedKey, pinned_public_key


class Command(BaseCommand):
    help = (
        "Check an audit export against its signed manifest, offline (no database needed): "
        "the signature, the file's SHA-256 and row count, its first and last entries, and "
        "(for an unfiltered export) that each entry links to the one before it. For an "
        "evidence pack (manage.py evidence), the pack's and every member's SHA-256."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("manifest")
        parser.add_argument(
            "--public-key",
            help="The signing key's public half, as published (the audit trail page, the "
            "admin). Default: AUDIT_PUBLIC_KEY, else the public half of AUDIT_SIGNING_KEY; "
            "never the key the manifest names itself (anyone can re-sign a file).",
        )

    def handle(self, *args, **options):
        try:
            manifest = json.loads(Path(options["manifest"]).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the manifest: {exc}") from None
        if not isinstance(manifest, dict):
            raise CommandError("the manifest is not a JSON object")
        try:
            key = pinned_public_key(options["public_key"])
        except (NoPinnedKey, ValueError) as exc:
            raise CommandError(str(exc)) from None
        try:
            problems, checked = check_file(options["file"], manifest, key)
        except OSError as exc:
            raise CommandError(f"cannot read the file: {exc}") from None
        except (ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
            raise CommandError(f"the file is not an audit export: {exc}") from None
        for line in checked:
            self.stdout.write(f"ok: {line}")
        if problems:
            raise CommandError("export NOT verified: " + "; ".join(problems))
        self.stdout.write("export verified")
        # What it proves: a selection cannot prove that nothing matching it is missing.
        self.stdout.write(f"scope: {what_it_proves(manifest)}")
