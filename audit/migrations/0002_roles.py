"""The three roles as groups, with the model permissions each needs.

Permissions are created after migrations run, so this migration creates them first.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = "view"
CONFIG_MODELS = ["genesysconnection", "confidencematrix", "confidencerule", "streamconfig", "streamfilter"]
ROLES = {
    "Compliance officers": [
        ("streams", "view_insight"),
        ("streams", "review_insight"),
        ("streams", "view_streamconfig"),
        ("streams", "view_quarantinedframe"),
    ],
    "Governance admins": [
        *[("streams", f"{verb}_{model}") for model in CONFIG_MODELS for verb in ("add", "change", "delete", "view")],
        ("streams", "view_insight"),
        ("streams", "review_insight"),
        ("streams", "view_quarantinedframe"),
        ("streams", "view_streamstatus"),
        ("audit", "view_auditentry"),
    ],
    "Auditors": [
        *[("streams", f"view_{model}") for model in CONFIG_MODELS],
        ("streams", "view_insight"),
        ("streams", "view_quarantinedframe"),
        ("streams", "view_streamstatus"),
        ("audit", "view_auditentry"),
    ],
}


def create_roles(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = [
            Permission.objects.get(content_type__app_label=app, codename=codename)
            for app, codename in codenames
        ]
        group.permissions.set(permissions)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("streams", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
