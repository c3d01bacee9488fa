from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Governance"

    def ready(self):
        from audit import receivers  # noqa: F401  (records config changes as audit entries)
        from audit.roles import on_post_migrate

        post_migrate.connect(on_post_migrate, sender=self, dispatch_uid="audit-roles")
