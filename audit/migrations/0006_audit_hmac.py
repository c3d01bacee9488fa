from django.db import migrations, models


def seal_existing(apps, schema_editor):
    """Entries written before the chain had HMACs are sealed now, with the current key, and
    the triggers come back with TRUNCATE refused too (PostgreSQL)."""
    from audit.trail import triggers
    from audit.trail.chain import current_key_id, seal

    AuditEntry = apps.get_model("audit", "AuditEntry")
    connection = schema_editor.connection
    triggers.remove(connection)
    key_id = current_key_id()
    for pk, entry_hash in AuditEntry.objects.filter(entry_hmac="").values_list("pk", "entry_hash"):
        AuditEntry.objects.filter(pk=pk).update(key_id=key_id, entry_hmac=seal(entry_hash, key_id))
    triggers.install(connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_roles_reason_codes")]

    operations = [
        migrations.AddField(
            model_name="auditentry",
            name="key_id",
            field=models.CharField(blank=True, max_length=16, verbose_name="HMAC key id"),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="entry_hmac",
            field=models.CharField(blank=True, max_length=64, verbose_name="HMAC"),
        ),
        migrations.RunPython(seal_existing, migrations.RunPython.noop),
    ]
