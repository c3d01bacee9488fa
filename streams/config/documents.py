"""Configuration as a versioned JSON document: export, and idempotent, validated import.

Objects are matched by name. Import validates the document's shape first (pydantic),
then every object as the admin does (`full_clean`), all in one transaction: a document
with one error changes nothing. Secrets never leave: a connection's secret is exported
as the name of its environment variable, or not at all.
"""

from typing import Literal

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from pydantic import BaseModel, ConfigDict, Field, field_validator

from streams.config.services import config_change_report
from streams.models import (
    ConfidenceMatrix,
    ConfidenceRule,
    GenesysConnection,
    KnowledgeSource,
    KnowledgeStream,
    KnowledgeStreamSource,
    StreamConfig,
    StreamFilter,
)

VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConnectionDoc(_Strict):
    name: str
    flavour: Literal["seed", "notifications"] = "seed"
    region: str = ""
    api_base_url: str = ""
    login_base_url: str = ""
    client_id: str
    client_secret_env: str = ""
    client_secret: str | None = Field(default=None, description="write-only: never exported")


class RuleDoc(_Strict):
    insight_type: str
    min_confidence: float = 0.0
    max_confidence: float = 1.0
    weight: float = 1.0
    auto_approve_at: float | None = None
    auto_filter: bool = False


class MatrixDoc(_Strict):
    name: str
    description: str = ""
    default_weight: float = 0.5
    no_confidence: str = "review"
    rules: list[RuleDoc] = []

    @field_validator("rules")
    @classmethod
    def one_rule_per_type(cls, rules: list[RuleDoc]) -> list[RuleDoc]:
        types = [rule.insight_type for rule in rules]
        duplicated = sorted({t for t in types if types.count(t) > 1})
        if duplicated:
            raise ValueError(f"more than one rule for {', '.join(duplicated)}")
        return rules


class FilterDoc(_Strict):
    attribute: str
    operator: str
    value: str


class StreamDoc(_Strict):
    name: str
    connection: str
    confidence_matrix: str
    interaction_ids: list[str] = []
    queue_ids: list[str] = []
    user_ids: list[str] = []
    insight_types: list[str] = []
    enabled: bool = False
    send_verdicts: bool = False
    filters: list[FilterDoc] = []


class KnowledgeSourceDoc(_Strict):
    knowledge_base_id: str
    name: str
    enabled: bool = True


class SourcePriorityDoc(_Strict):
    knowledge_base_id: str
    priority: int = 1


class KnowledgeStreamDoc(_Strict):
    name: str
    connection: str
    enabled: bool = True
    max_results: int = 5
    confidence_threshold: float = 0.75
    language: str = "en-US"
    freshness_days: int = 90
    max_in_flight: int = 5
    query_timeout_seconds: float = 15.0
    cache_ttl_seconds: int = 300
    auto_query_types: list[str] = []
    send_verdicts: bool = False
    sources: list[SourcePriorityDoc] = []


KNOWLEDGE_STREAM_SETTINGS = tuple(
    name
    for name in KnowledgeStreamDoc.model_fields
    if name not in ("name", "connection", "sources")
)


class ConfigDocument(_Strict):
    version: Literal[1] = VERSION
    connections: list[ConnectionDoc] = []
    confidence_matrices: list[MatrixDoc] = []
    streams: list[StreamDoc] = []
    knowledge_sources: list[KnowledgeSourceDoc] = []
    knowledge_streams: list[KnowledgeStreamDoc] = []


class ConfigImportError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def config_export() -> dict:
    connections = [
        ConnectionDoc(
            name=c.name, **{field: getattr(c, field) for field in GenesysConnection.SETTINGS}
        )
        for c in GenesysConnection.objects.all()
    ]
    matrices = [
        MatrixDoc(
            name=m.name,
            description=m.description,
            default_weight=m.default_weight,
            no_confidence=m.no_confidence,
            rules=[RuleDoc(**rule.audit_snapshot()) for rule in m.rules.all()],
        )
        for m in ConfidenceMatrix.objects.prefetch_related("rules")
    ]
    streams = [
        StreamDoc(
            name=s.name,
            connection=s.connection.name,
            confidence_matrix=s.confidence_matrix.name,
            interaction_ids=s.interaction_ids,
            queue_ids=s.queue_ids,
            user_ids=s.user_ids,
            insight_types=s.insight_types,
            enabled=s.enabled,
            send_verdicts=s.send_verdicts,
            filters=[FilterDoc(**f.audit_snapshot()) for f in s.filters.all()],
        )
        for s in StreamConfig.objects.select_related(
            "connection", "confidence_matrix"
        ).prefetch_related("filters")
    ]
    knowledge_sources = [
        KnowledgeSourceDoc(**source.audit_snapshot()) for source in KnowledgeSource.objects.all()
    ]
    knowledge_streams = [
        KnowledgeStreamDoc(
            connection=k.connection.name,
            **{k_: v for k_, v in k.audit_snapshot().items() if k_ != "connection"},
        )
        for k in KnowledgeStream.objects.select_related("connection")
    ]
    document = ConfigDocument(
        connections=connections,
        confidence_matrices=matrices,
        streams=streams,
        knowledge_sources=knowledge_sources,
        knowledge_streams=knowledge_streams,
    )
    return document.model_dump(exclude_none=True)


def config_import(data: dict, *, source: str, actor=None) -> dict[str, int]:
    """Create or update every object in `data`; returns counts of created and updated objects."""
    document = ConfigDocument.model_validate(data)
    importer = _Importer(source=source, actor=actor)
    with transaction.atomic():
        for doc in document.connections:
            importer.run(f"connections[{doc.name}]", importer.connection, doc)
        for doc in document.confidence_matrices:
            importer.run(f"confidence_matrices[{doc.name}]", importer.matrix, doc)
        for doc in document.streams:
            importer.run(f"streams[{doc.name}]", importer.stream, doc)
        for doc in document.knowledge_sources:
            importer.run(f"knowledge_sources[{doc.name}]", importer.knowledge_source, doc)
        for doc in document.knowledge_streams:
            importer.run(f"knowledge_streams[{doc.name}]", importer.knowledge_stream, doc)
        if importer.problems:
            raise ConfigImportError(importer.problems)
    return importer.counts


def _messages(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [
            f"{field}: {message}"
            for field, errors in exc.message_dict.items()
            for message in errors
        ]
    return exc.messages


class _Importer:
    def __init__(self, *, source: str, actor):
        self.source = source
        self.actor = actor
        self.problems: list[str] = []
        self.failed: set[str] = set()
        self.counts = {"created": 0, "updated": 0, "unchanged": 0}

    def run(self, where: str, step, doc) -> None:
        try:
            with transaction.atomic():
                step(doc)
        except ValidationError as exc:
            self.problems.extend(f"{where}: {message}" for message in _messages(exc))
            self.failed.add(doc.name)

    def _record(self, obj, before: dict | None) -> None:
        after = obj.audit_snapshot()
        if before == after:
            self.counts["unchanged"] += 1
            return
        self.counts["updated" if before is not None else "created"] += 1
        config_change_report(
            obj=obj,
            verb="update" if before is not None else "create",
            before=before,
            after=after,
            actor=self.actor,
            source=self.source,
        )

    def connection(self, doc: ConnectionDoc) -> None:
        obj = GenesysConnection.objects.filter(name=doc.name).first() or GenesysConnection(
            name=doc.name
        )
        before = obj.audit_snapshot() if obj.pk else None
        for field in GenesysConnection.SETTINGS:
            setattr(obj, field, getattr(doc, field))
        if doc.client_secret and not _same_secret(obj, doc.client_secret):
            obj.set_client_secret(doc.client_secret)
        if doc.client_secret_env:
            obj.client_secret_encrypted = ""
        obj.full_clean()
        obj.save()
        self._record(obj, before)

    def matrix(self, doc: MatrixDoc) -> None:
        obj = ConfidenceMatrix.objects.filter(name=doc.name).first() or ConfidenceMatrix(
            name=doc.name
        )
        before = obj.audit_snapshot() if obj.pk else None
        obj.description, obj.default_weight = doc.description, doc.default_weight
        obj.no_confidence = doc.no_confidence
        obj.full_clean()
        obj.save()
        obj.rules.exclude(insight_type__in=[r.insight_type for r in doc.rules]).delete()
        for rule_doc in doc.rules:
            rule = obj.rules.filter(insight_type=rule_doc.insight_type).first() or ConfidenceRule(
                matrix=obj
            )
            for field, value in rule_doc.model_dump().items():
                setattr(rule, field, value)
            _save_part(rule, f"rule {rule_doc.insight_type}")
        self._record(obj, before)

    def stream(self, doc: StreamDoc) -> None:
        obj = StreamConfig.objects.filter(name=doc.name).first() or StreamConfig(name=doc.name)
        before = obj.audit_snapshot() if obj.pk else None
        for field, name in (
            ("connection", doc.connection),
            ("confidence_matrix", doc.confidence_matrix),
        ):
            if name in self.failed:
                raise ValidationError({field: f"{name!r} has errors (see above)"})
        obj.connection = _by_name(GenesysConnection, doc.connection, "connection")
        obj.confidence_matrix = _by_name(
            ConfidenceMatrix, doc.confidence_matrix, "confidence_matrix"
        )
        obj.interaction_ids, obj.insight_types, obj.enabled = (
            doc.interaction_ids,
            doc.insight_types,
            doc.enabled,
        )
        obj.send_verdicts = doc.send_verdicts
        obj.queue_ids, obj.user_ids = doc.queue_ids, doc.user_ids
        obj.full_clean()
        obj.save()
        obj.filters.all().delete()
        for filter_doc in doc.filters:
            stream_filter = StreamFilter(stream=obj, **filter_doc.model_dump())
            _save_part(stream_filter, f"filter {stream_filter}")
        self._record(obj, before)

    def knowledge_source(self, doc: KnowledgeSourceDoc) -> None:
        obj = KnowledgeSource.objects.filter(
            knowledge_base_id=doc.knowledge_base_id
        ).first() or KnowledgeSource(knowledge_base_id=doc.knowledge_base_id)
        before = obj.audit_snapshot() if obj.pk else None
        obj.name, obj.enabled = doc.name, doc.enabled
        obj.full_clean()
        obj.save()
        self._record(obj, before)

    def knowledge_stream(self, doc: KnowledgeStreamDoc) -> None:
        obj = KnowledgeStream.objects.filter(name=doc.name).first() or KnowledgeStream(
            name=doc.name
        )
        before = obj.audit_snapshot() if obj.pk else None
        if doc.connection in self.failed:
            raise ValidationError({"connection": f"{doc.connection!r} has errors (see above)"})
        obj.connection = _by_name(GenesysConnection, doc.connection, "connection")
        for field in KNOWLEDGE_STREAM_SETTINGS:
            setattr(obj, field, getattr(doc, field))
        obj.full_clean()
        obj.save()
        obj.source_links.all().delete()
        for link in doc.sources:
            source = KnowledgeSource.objects.filter(
                knowledge_base_id=link.knowledge_base_id
            ).first()
            if source is None:
                raise ValidationError(
                    {"sources": f"no knowledge source with id {link.knowledge_base_id!r}"}
                )
            part = KnowledgeStreamSource(stream=obj, source=source, priority=link.priority)
            _save_part(part, f"source {link.knowledge_base_id}")
        self._record(obj, before)


def _save_part(obj, label: str) -> None:
    """Validate and save a rule or filter, its errors prefixed with what it is."""
    try:
        obj.full_clean()
    except ValidationError as exc:
        raise ValidationError([f"{label}: {message}" for message in _messages(exc)]) from None
    obj.save()


def _same_secret(connection: GenesysConnection, secret: str) -> bool:
    if not connection.client_secret_encrypted or connection.client_secret_env:
        return False
    try:
        return connection.client_secret() == secret
    except ImproperlyConfigured:
        return False


def _by_name(model, name: str, field: str):
    try:
        return model.objects.get(name=name)
    except model.DoesNotExist:
        raise ValidationError({field: f"no {model._meta.verbose_name} named {name!r}"}) from None
