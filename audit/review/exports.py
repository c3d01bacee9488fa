"""What the items' CSV files hold: insights, decisions (people's and rules'), knowledge
answers and their results, with the words for codes beside the codes, and, for a viewer
blind to decisions under a second review, those decisions hidden (audit.oversight.blind).
The audit trail's CSV is the trail's own (audit.trail.csvfiles); `EXPORTS` lists them all."""

import dataclasses
from collections.abc import Iterator

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, F, OuterRef, Subquery, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce

from audit.oversight import blind
from audit.review.selectors import ReviewFilters
from audit.trail.csvfiles import (
    AUDIT_EXPORT,
    Export,
    Neutralised,
    NeutralText,
    audit_queryset,
    csv_chunks,
    neutralise,
    within,
)
from audit.vocabulary import ReasonCode, TypeLabel
from streams.genesys.knowledge import Outcome
from streams.genesys.summaries import SUMMARY_TYPE
from streams.models import Insight, KnowledgeQuery

INSIGHT_COLUMNS = (
    ("Insight id", "id"),
    ("Stream", "stream__name"),
    ("Interaction id", "interaction_id"),
    ("Insight type", "insight_type_label"),
    ("Insight type code", "insight_type"),
    ("Confidence", "confidence"),
    ("Relevance", "relevance_score"),
    ("Snippet", "snippet"),
    ("Corrected text", "corrected_text"),
    ("Status", "review_status"),
    ("Reviewed by", "reviewed_by__username"),
    ("Reviewed at", "reviewed_at"),
    ("Reason code", "review_reason_code"),
    ("Reason", "review_reason_label"),
    ("Note", "review_note"),
    ("Decided by rule", "review_rule"),
    # The setting that judged the item as it arrived, and its version then.
    ("Judged by", "rule_version__name"),
    ("Judged by version", "rule_version__number"),
    ("Event time", "event_time"),
    ("Received at", "received_at"),
    ("Processing latency (ms)", "latency_ms"),
    ("External id", "external_id"),
    # A conversation summary's predicted wrap-up codes with their confidence, as Genesys
    # gave them (JSON); empty for other types.
    ("Predicted wrap-up codes", "summary_wrap_up_codes"),
)


DECISION_COLUMNS = (
    ("Insight id", "id"),
    ("Decision", "review_status"),
    ("Decided at", "reviewed_at"),
    ("Decided by", "reviewed_by__username"),
    ("Decided by rule", "review_rule"),
    # The setting that judged the item as it arrived, and its version then.
    ("Judged by", "rule_version__name"),
    ("Judged by version", "rule_version__number"),
    ("Reason code", "review_reason_code"),
    ("Reason", "review_reason_label"),
    ("Note", "review_note"),
    ("Insight type", "insight_type_label"),
    ("Insight type code", "insight_type"),
    ("Confidence", "confidence"),
    ("Interaction id", "interaction_id"),
    ("Stream", "stream__name"),
    ("Snippet", "snippet"),
    ("Corrected text", "corrected_text"),
)


KNOWLEDGE_COLUMNS = (
    ("Query row", "id"),
    ("Time", "created_at"),
    ("Stream", "stream__name"),
    ("Query id", "query_id"),
    ("Conversation id", "conversation_id"),
    ("Query text", "query_text"),
    ("Origin", "origin"),
    ("Requested by", "requested_by"),
    ("Status", "status"),
    ("Governance status", "governance_status"),
    ("Results returned", "results_returned"),
    ("Results validated", "results_validated"),
    ("Cache hit", "cache_hit"),
    ("Latency (ms)", "latency_ms"),
    ("Attempts", "attempts"),
    ("Error code", "error_code"),
    ("Error message", "error_message"),
    ("Best confidence", "top_confidence"),
    ("Insight id", "insight_id"),
    ("Review status", "review_status"),
    ("Reviewed by", "reviewed_by__username"),
    ("Reviewed at", "reviewed_at"),
    ("Reason code", "review_reason_code"),
    ("Reason", "review_reason_label"),
    ("Note", "review_note"),
    ("Corrected text", "corrected_text"),
    ("Decided by rule", "review_rule"),
    # The setting that judged the item as it arrived, and its version then.
    ("Judged by", "rule_version__name"),
    ("Judged by version", "rule_version__number"),
    ("Results", "results"),
)


RESULT_COLUMNS = (
    ("Query row", "id"),
    ("Time", "created_at"),
    ("Stream", "stream__name"),
    ("Query id", "query_id"),
    ("Query text", "query_text"),
    ("Rank", "rank"),
    ("Knowledge base", "knowledge_base_id"),
    ("Document id", "document_id"),
    ("Title", "title"),
    ("Confidence", "confidence"),
    ("Last updated", "last_updated"),
    ("Outcome", "outcome_label"),
    ("Outcome code", "outcome"),
    ("Reason", "reason"),
    ("URL", "url"),
)


RESULT_QUERY_FIELDS = ("id", "created_at", "stream__name", "query_id", "query_text", "results")


def result_rows(query: tuple) -> list[list[str]]:
    """One row per result of a knowledge query (none for a query without results)."""
    *fields, results = query
    head = [neutralise(value) for value in fields]
    rows = []
    for result in results or []:
        if not isinstance(result, dict):
            continue
        values = {**result, "outcome_label": Outcome.label_of(str(result.get("outcome", "")))}
        rows.append(head + [neutralise(values.get(field)) for _, field in RESULT_COLUMNS[5:]])
    return rows


EXPORTS = {
    "insights": Export("insights", "streams.view_insight", INSIGHT_COLUMNS, "received_at"),
    "decisions": Export("decisions", "streams.view_insight", DECISION_COLUMNS, "reviewed_at"),
    "audit": AUDIT_EXPORT,
    "knowledge": Export(
        "knowledge", "streams.view_knowledgequery", KNOWLEDGE_COLUMNS, "created_at"
    ),
    "knowledge-results": Export(
        "knowledge-results",
        "streams.view_knowledgequery",
        RESULT_COLUMNS,
        "created_at",
        expand=(RESULT_QUERY_FIELDS, result_rows),
    ),
}


def queryset_for(kind: str, params=None, *, blind_to: int | None = None):
    """The rows an export covers, from request or command parameters (ValidationError if bad);
    with `blind_to`, a decided-status filter leaves out what is hidden from that viewer
    (audit.oversight.blind)."""
    params = params if params is not None else {}
    if kind == "audit":
        return audit_queryset(params)
    if kind.startswith("knowledge"):
        queryset = KnowledgeQuery.objects.all()
        if params.get("stream"):
            if len(params["stream"]) > 100:
                raise ValidationError("stream: a knowledge stream's name is 100 characters or less")
            queryset = queryset.filter(stream__name=params["stream"])
        review_status = params.get("review_status")
        if review_status:
            if review_status not in KnowledgeQuery.ReviewStatus.values:
                raise ValidationError(
                    f"review_status {review_status!r} is not one of "
                    + ", ".join(KnowledgeQuery.ReviewStatus.values)
                )
            queryset = queryset.in_status(review_status)
            if blind_to is not None and review_status != "pending":
                queryset = queryset.exclude(blind.hidden_q("knowledge", blind_to))
    else:
        filters = ReviewFilters.parse(params, default_status="all")
        filters = dataclasses.replace(filters, blind_to=blind_to)
        queryset = filters.apply(Insight.objects.all())
        if kind == "decisions":
            queryset = queryset.decided()
    return within(queryset, params, EXPORTS[kind].time_field)


def with_labels(queryset, fields):
    """The words for the codes a row holds (its reason code's label, its insight type's
    label), for the label columns among `fields`; the codes keep their own columns."""
    labels = {}
    # Neutralised inside their subqueries, so that each runs once per row (audit.trail.
    # csvfiles.NeutralText).
    if "review_reason_label" in fields:
        reason = ReasonCode.objects.filter(code=OuterRef("review_reason_code"))
        reason = reason.annotate(cell=Neutralised(F("label"))).values("cell")
        labels["review_reason_label"] = Subquery(reason[:1], output_field=NeutralText())
    if "insight_type_label" in fields:
        label = TypeLabel.objects.filter(code=OuterRef("insight_type"))
        label = label.annotate(cell=Neutralised(F("label"))).values("cell")
        labels["insight_type_label"] = Coalesce(
            Subquery(label[:1]),
            Neutralised(F("insight_type")),
            output_field=NeutralText(),
        )
    if "summary_wrap_up_codes" in fields:
        # Read from the payload of summaries only: other rows never parse their JSON.
        labels["summary_wrap_up_codes"] = Case(
            When(
                insight_type=SUMMARY_TYPE,
                then=Cast(KeyTextTransform("wrapUpCodes", "payload"), models.TextField()),
            ),
            default=Value(""),
            output_field=models.TextField(),
        )
    return queryset.annotate(**labels) if labels else queryset


def chunks(kind: str, queryset, *, blind_to: int | None = None, **options) -> Iterator[str]:
    """The CSV of export `kind`: with the words for its codes, and with `blind_to`, the
    decisions hidden from that viewer read as hidden."""

    def prepare(queryset, fields):
        queryset = with_labels(queryset, fields)
        return blind.masked_export(kind, queryset, fields, blind_to)

    return csv_chunks(EXPORTS[kind], queryset, prepare=prepare, **options)
