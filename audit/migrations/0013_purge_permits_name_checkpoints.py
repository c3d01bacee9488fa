from django.db import migrations, models


def remove_triggers(apps, schema_editor):
    """SQLite rebuilds the permits table to add columns; the entries' delete trigger, which
    reads that table, would stop the rename."""
    from audit.trail import triggers

    triggers.remove(schema_editor.connection)


def install_triggers(apps, schema_editor):
    """Permits are now append-only and must name their checkpoint (see audit.triggers)."""
    from audit.trail import triggers

    triggers.install(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0012_second_review_words")]

    operations = [
        migrations.RunPython(remove_triggers, install_triggers),
        # The purge removed each permit with its entries: there are none to carry over.
        migrations.RunSQL("DELETE FROM audit_purgepermit", migrations.RunSQL.noop),
        migrations.AddField(
            model_name="purgepermit",
            name="checkpoint_id",
            field=models.BigIntegerField(unique=True, default=0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="purgepermit",
            name="first_id",
            field=models.BigIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.RunPython(install_triggers, remove_triggers),
    ]
