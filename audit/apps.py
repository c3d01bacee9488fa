from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Governance"

    def ready(self):
        from audit import (  # noqa: F401  (connect their receivers)
            receivers,  # config changes as audit entries
            security,  # lock-outs as audit entries
        )
        from audit.roles import on_post_migrate

        post_migrate.connect(on_post_migrate, sender=self, dispatch_uid="audit-roles")
        self.plug_into_streams()

    @staticmethod
    def plug_into_streams():
        from audit.head import head_metrics, head_publisher
        from streams import ports

        if head_publisher not in ports.WORKER_TASKS:
            ports.WORKER_TASKS.append(head_publisher)
        if head_metrics not in ports.METRIC_FAMILIES:
            ports.METRIC_FAMILIES.append(head_metrics)
