"""Audit entries for what the streams app reports: config changes, automatic decisions."""

from django.dispatch import receiver

from audit.services import Origin, audit_record
from streams.knowledge import knowledge_queried
from streams.signals import config_changed, insights_auto_decided, stream_run_changed


@receiver(config_changed, dispatch_uid="audit-config-changed")
def record_config_change(
    sender, *, actor, action, obj, before, after, request=None, source="", **kwargs
):
    audit_record(
        action=action,
        actor=actor,
        actor_label="" if actor is not None else source or "system",
        obj=obj,
        before=before,
        after=after,
        origin=Origin.from_request(request),
    )


@receiver(insights_auto_decided, dispatch_uid="audit-auto-decided")
def record_auto_decisions(sender, *, stream_id, stream_name, decisions, **kwargs):
    """One entry per stored batch: which insights each rule decided, and how."""
    audit_record(
        action="insight.auto_decide",
        actor_label="confidence matrix",
        object_type="streams.streamconfig",
        object_id=str(stream_id),
        object_repr=stream_name,
        after={"decisions": decisions},
    )


@receiver(stream_run_changed, dispatch_uid="audit-stream-run")
def record_stream_run(sender, *, stream_id, stream_name, event, reason, worker, **kwargs):
    audit_record(
        action=f"stream.run_{event}",
        actor_label=f"stream worker {worker}"[:150],
        object_type="streams.streamconfig",
        object_id=str(stream_id),
        object_repr=stream_name,
        after={"reason": reason},
    )


@receiver(knowledge_queried, dispatch_uid="audit-knowledge-query")
def record_knowledge_query(sender, *, query, client_address=None, **kwargs):
    """Seed 2's audit record, in the chain."""
    audit_record(
        action="knowledge.query",
        actor_label=query.requested_by,
        object_type="streams.knowledgequery",
        object_id=query.query_id,
        object_repr=query.query_text[:200],
        after={**query.audit_fields(), "stream": query.stream.name, "origin": query.origin},
        origin=Origin(client_address=client_address),
    )
