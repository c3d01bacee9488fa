"""Django's flush, which empties every table: the audit table's append-only triggers are
lifted for the wipe and put back after it. Test suites flush between tests."""

from django.core.management.commands import flush
from django.db import connections

from audit.trail import triggers


class Command(flush.Command):
    def handle(self, **options):
        connection = connections[options["database"]]
        triggers.remove(connection)
        try:
            return super().handle(**options)
        finally:
            triggers.install(connection)
