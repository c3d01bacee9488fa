import json

from django.core.management.base import BaseCommand

from streams.config.documents import config_export


class Command(BaseCommand):
    help = (
        "Print connections, confidence matrices and streams as a JSON document for "
        "import_config. Secrets are not exported: only their environment variable names."
    )

    def add_arguments(self, parser):
        parser.add_argument("-o", "--output", help="Write to this file instead of standard output.")

    def handle(self, *args, **options):
        text = json.dumps(config_export(), indent=2) + "\n"
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8") as handle:
                handle.write(text)
        else:
            self.stdout.write(text, ending="")
