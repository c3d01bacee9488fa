"""Roles as audit.roles defines them (reason-code permissions included)."""

from django.db import migrations


def sync(apps, schema_editor):
    from audit.people.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_append_only"), ("audit", "0002_roles")]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
