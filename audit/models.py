"""Every model of audit's packages, for Django: one app (label `audit`), its tables named as
they always were (`audit_<model>`), each model in the package of its feature."""

from audit.oversight.models import (
    Incident,
    OversightSettings,
    SecondReview,
    StreamSampling,
    TrainingAttestation,
)
from audit.people.models import Person, SsoGrant, UserSettings, time_zone_choices
from audit.privacy.models import ErasureRequest
from audit.reports.models import EvidencePack
from audit.review.models import ItemOpening, SavedView, WorkspaceSettings
from audit.trail.models import (
    AuditEntry,
    DeniedTally,
    LegalHold,
    PurgePermit,
    RechainPermit,
    RetentionPolicy,
)
from audit.vocabulary import ReasonCode, TypeLabel

__all__ = [
    "AuditEntry",
    "DeniedTally",
    "ErasureRequest",
    "EvidencePack",
    "Incident",
    "ItemOpening",
    "LegalHold",
    "OversightSettings",
    "Person",
    "PurgePermit",
    "ReasonCode",
    "RechainPermit",
    "RetentionPolicy",
    "SavedView",
    "SecondReview",
    "SsoGrant",
    "StreamSampling",
    "TrainingAttestation",
    "TypeLabel",
    "UserSettings",
    "WorkspaceSettings",
    "time_zone_choices",  # named by migration 0008
]
