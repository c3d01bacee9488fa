"""The streams app's models, one module per feature (this file only gathers them, so the
app label and table names stay `streams`)."""

from streams.config.models import (
    ChangeRequest,
    ConfidenceMatrix,
    ConfidenceRule,
    ConfigVersion,
    GenesysAssistants,
    GenesysConnection,
    StreamConfig,
    StreamFilter,
)
from streams.ingest.models import Insight, QuarantinedFrame
from streams.knowledge.models import (
    KnowledgeQuery,
    KnowledgeSource,
    KnowledgeStream,
    KnowledgeStreamSource,
)
from streams.privacy.models import (
    ConversationKey,
    DetectionCount,
    Original,
    PrivacySettings,
    SubjectHash,
)
from streams.reviewable import Reviewable, ReviewQuerySet
from streams.tokens.models import ApiToken
from streams.webhooks.models import (
    GenesysFeedback,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from streams.worker.models import (
    FollowedConversation,
    Reconciliation,
    StreamState,
    StreamStatus,
    WorkerHeartbeat,
)

__all__ = [
    "ApiToken",
    "ChangeRequest",
    "ConfidenceMatrix",
    "ConfidenceRule",
    "ConfigVersion",
    "ConversationKey",
    "DetectionCount",
    "FollowedConversation",
    "GenesysAssistants",
    "GenesysConnection",
    "GenesysFeedback",
    "Insight",
    "KnowledgeQuery",
    "KnowledgeSource",
    "KnowledgeStream",
    "KnowledgeStreamSource",
    "Original",
    "PrivacySettings",
    "QuarantinedFrame",
    "Reconciliation",
    "ReviewQuerySet",
    "Reviewable",
    "StreamConfig",
    "StreamFilter",
    "StreamState",
    "StreamStatus",
    "SubjectHash",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WorkerHeartbeat",
]
