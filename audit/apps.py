from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Governance"

    def ready(self):
        from audit.people.roles import on_post_migrate

        self.connect_receivers()
        post_migrate.connect(on_post_migrate, sender=self, dispatch_uid="audit-roles")
        self.plug_into_streams()
        self.register_retention()
        self.register_four_eyes()

    @staticmethod
    def register_four_eyes():
        """The governance settings kept here are changed by two admins, as streams are;
        the sampling plan is versioned, as matrices are."""
        from audit.oversight.models import Incident, OversightSettings, StreamSampling
        from audit.people.models import Person
        from audit.review.models import SavedView
        from audit.trail.models import LegalHold, RetentionPolicy
        from audit.vocabulary import ReasonCode, TypeLabel
        from streams.config import changes, versions

        versions.register(OversightSettings)
        versions.register(StreamSampling, "stream")
        changes.register(
            Person,
            "username",
            only=("username", "first_name", "last_name", "email", "is_active", "groups"),
        )
        for model, key in (
            (RetentionPolicy, None),
            (LegalHold, None),
            (OversightSettings, None),
            (StreamSampling, None),
            (TypeLabel, "code"),
            (SavedView, None),
            (Incident, None),
            (ReasonCode, "code"),
        ):
            changes.register(model, key)

    @staticmethod
    def connect_receivers():
        """The packages' signal receivers, connected as their modules load: sign-ins and
        lock-outs as audit entries, when a session began, claims released at sign-out, a
        ruling applied to its item, second reviews purged with their items."""
        from audit.oversight import sampling  # noqa: F401
        from audit.people import security, sessions  # noqa: F401
        from audit.review import claims, services  # noqa: F401

    @staticmethod
    def register_retention():
        """What the packages above the trail keep, under the retention policy too."""
        from audit.privacy.models import ErasureRequest
        from audit.review.models import ItemOpening
        from audit.trail import retention

        retention.register(
            retention.Kind("openings", "item openings", "insight_months", ItemOpening, "opened_at")
        )
        retention.register(
            retention.Kind(
                "erasures",
                "answered erasure requests",
                "audit_months",
                ErasureRequest,
                "requested_at",
                lambda rows, holds: rows.exclude(status=ErasureRequest.Status.PENDING),
            )
        )

    @staticmethod
    def plug_into_streams():
        """streams never imports audit: what it reports comes here through its port."""
        from audit.oversight.sampling import rule_sampler
        from audit.people.sso import sso_syncer
        from audit.reports.packs import monthly_packer
        from audit.review.search import statistics_refresher
        from audit.trail.denied import denied_summariser
        from audit.trail.drift import genesys_drift_watcher
        from audit.trail.head import head_metrics, head_publisher
        from audit.trail.port import AuditReports
        from audit.trail.retention import retention_purger
        from audit.trail.verification import chain_verifier, verification_metrics
        from streams import ports

        ports.plug(AuditReports())
        tasks = (
            head_publisher,
            chain_verifier,
            retention_purger,
            rule_sampler,
            denied_summariser,
            sso_syncer,
            monthly_packer,
            genesys_drift_watcher,
            statistics_refresher,
        )
        for task in tasks:
            if task not in ports.WORKER_TASKS:
                ports.WORKER_TASKS.append(task)
        for families in (head_metrics, verification_metrics):
            if families not in ports.METRIC_FAMILIES:
                ports.METRIC_FAMILIES.append(families)
