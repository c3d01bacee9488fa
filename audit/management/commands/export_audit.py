import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audit.trail import signed_exports, signing
from audit.trail.access import record_download
from audit.trail.record import command_actor


class Command(BaseCommand):
    help = (
        "Write the audit trail (all of it, or filtered as on the trail page) as CSV or OCSF "
        "JSON lines, with a manifest signed by AUDIT_SIGNING_KEY beside it (FILE.manifest.json). "
        "Check both offline with verify_export."
    )

    def add_arguments(self, parser):
        parser.add_argument("output", help="The file to write; the manifest goes beside it.")
        parser.add_argument("--format", choices=sorted(signed_exports.FORMATS), default="csv")
        for name in ("category", "actor", "action", "object"):
            parser.add_argument(f"--{name}", help=f"As the trail page's {name} filter.")
        parser.add_argument("--since", help="ISO-8601 time, inclusive (UTC without an offset).")
        parser.add_argument("--until", help="ISO-8601 time, exclusive.")
        parser.add_argument("--through", help="The newest entry to include (default: the head).")

    def handle(self, *args, **options):
        fmt = options["format"]
        params = signed_exports.parameters(options)
        try:
            entries = signed_exports.queryset(params)
            signing.private_key()
        except ValidationError as exc:
            raise CommandError(exc.messages[0]) from None
        except signing.NoSigningKey as exc:
            raise CommandError(str(exc)) from None
        output = Path(options["output"])
        record_download(
            kind="audit",
            what=f"audit {signed_exports.FORMATS[fmt].label}, signed",
            parameters=params,
            actor_label=command_actor("export_audit"),
            output=output.name,
        )
        with output.open("w", encoding="utf-8", newline="") as handle:
            for chunk in signed_exports.chunks(fmt, entries):
                handle.write(chunk)
        manifest = signed_exports.manifest(fmt, params, file_name=output.name)
        manifest_path = output.with_name(output.name + ".manifest.json")
        manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        self.stdout.write(
            f"{manifest['rows']} entries written to {output.name}; manifest "
            f"{manifest_path.name}, signed by key {manifest['public_key']}"
        )
