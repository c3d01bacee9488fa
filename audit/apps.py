from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Governance"

    def ready(self):
        # security: sign-ins and lock-outs as audit entries; sessions: when a session began.
        from audit import lookups, security, sessions  # noqa: F401
        from audit.roles import on_post_migrate

        lookups.register()
        post_migrate.connect(on_post_migrate, sender=self, dispatch_uid="audit-roles")
        self.plug_into_streams()

    @staticmethod
    def plug_into_streams():
        """streams never imports audit: what it reports comes here through its port."""
        from audit.denied import denied_summariser
        from audit.head import head_metrics, head_publisher
        from audit.oversight import rule_sampler
        from audit.reports import AuditReports
        from audit.retention import retention_purger
        from audit.sso import sso_syncer
        from audit.verification import chain_verifier, verification_metrics
        from streams import ports

        ports.plug(AuditReports())
        tasks = (
            head_publisher,
            chain_verifier,
            retention_purger,
            rule_sampler,
            denied_summariser,
            sso_syncer,
        )
        for task in tasks:
            if task not in ports.WORKER_TASKS:
                ports.WORKER_TASKS.append(task)
        for families in (head_metrics, verification_metrics):
            if families not in ports.METRIC_FAMILIES:
                ports.METRIC_FAMILIES.append(families)
