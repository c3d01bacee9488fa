from django.db import migrations


def install(apps, schema_editor):
    from audit.trail import triggers

    triggers.install(schema_editor.connection)


def remove(apps, schema_editor):
    from audit.trail import triggers

    triggers.remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_hash_chain_and_reason_codes")]

    operations = [migrations.RunPython(install, remove)]
