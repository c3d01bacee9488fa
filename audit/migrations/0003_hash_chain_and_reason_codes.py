import django.core.validators
import django.utils.timezone
from django.db import migrations, models



def chain_existing_entries(apps, schema_editor):
    from audit.trail.chain import GENESIS, compute_hash

    AuditEntry = apps.get_model("audit", "AuditEntry")
    previous = GENESIS
    for entry in AuditEntry.objects.order_by("id"):
        entry.prev_hash = previous
        entry.entry_hash = compute_hash(entry)
        entry.save(update_fields=["prev_hash", "entry_hash"])
        previous = entry.entry_hash


def create_reason_codes(apps, schema_editor):
    from audit.people.roles import ensure_reason_codes

    ensure_reason_codes(apps)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_roles")]

    operations = [
        migrations.CreateModel(
            name="ReasonCode",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "code",
                    models.CharField(
                        max_length=40,
                        unique=True,
                        validators=[
                            django.core.validators.RegexValidator(
                                "^[a-z0-9_-]+$", "Lower-case letters, digits, - and _."
                            )
                        ],
                    ),
                ),
                ("label", models.CharField(max_length=200)),
                ("active", models.BooleanField(default=True, help_text="Inactive codes are kept for history.")),
                ("position", models.PositiveIntegerField(default=0, help_text="Order in the review page.")),
            ],
            options={"ordering": ["position", "code"]},
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="created_at",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now, editable=False),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="prev_hash",
            field=models.CharField(default="", max_length=64, verbose_name="previous entry's hash"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditentry",
            name="entry_hash",
            field=models.CharField(default="", max_length=64, verbose_name="hash"),
            preserve_default=False,
        ),
        migrations.RunPython(chain_existing_entries, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditentry",
            name="entry_hash",
            field=models.CharField(max_length=64, unique=True, verbose_name="hash"),
        ),
        migrations.RunPython(create_reason_codes, migrations.RunPython.noop),
    ]
