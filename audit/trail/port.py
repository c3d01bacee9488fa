"""The audit trail's side of streams' governance port: what streams reports becomes audit
entries, written by the caller, inside the transaction of what it reports."""

from audit.trail.access import record_token_refused
from audit.trail.record import Origin, audit_record


class AuditReports:
    """Implements `streams.ports.Governance`."""

    def config_changed(self, *, obj, verb, before, after, actor, source, request=None) -> None:
        noun = obj._meta.verbose_name.lower().replace(" ", "_")
        audit_record(
            action=f"{noun}.{verb}",
            actor=actor,
            actor_label="" if actor is not None else source or "system",
            obj=obj,
            before=before,
            after=after,
            origin=Origin.from_request(request),
        )

    def genesys_feedback_done(self, *, feedback, worker: str) -> None:
        sent = feedback.status == feedback.Status.SENT
        document = feedback.kind == feedback.Kind.DOCUMENT
        where = (
            {
                "knowledge_query": feedback.knowledge_query_id,
                "knowledge_base_id": feedback.knowledge_base_id,
                "document_id": feedback.document_id,
                "comment": feedback.comment,
            }
            if document
            else {"insight": feedback.insight_id, "suggestion_id": feedback.suggestion_id}
        )
        audit_record(
            action="genesys_feedback.send" if sent else "genesys_feedback.fail",
            actor_label=f"Stream worker {worker}"[:150],
            obj=feedback,
            object_repr=str(feedback),
            after={
                "kind": feedback.kind,
                **where,
                "conversation_id": feedback.conversation_id,
                "rating": feedback.rating,
                "decided_by": feedback.decided_by,
                "attempts": feedback.attempts,
                "status_code": feedback.last_status_code,
                "error": feedback.last_error,
            },
        )

    def insights_auto_decided(self, *, stream_id, stream_name, decisions) -> None:
        """One entry per stored batch: which insights each rule decided, and how."""
        audit_record(
            action="insight.auto_decide",
            actor_label="Confidence matrix rules",
            object_type="streams.streamconfig",
            object_id=str(stream_id),
            object_repr=stream_name,
            after={"decisions": decisions},
        )

    def insights_not_stored(self, *, stream_id, stream_name, counts) -> None:
        """One entry per batch in which rules kept insights out: how many, by rule and type."""
        audit_record(
            action="insight.not_stored",
            actor_label="Confidence matrix rules",
            object_type="streams.streamconfig",
            object_id=str(stream_id),
            object_repr=stream_name,
            after={"not_stored": counts, "total": sum(c["count"] for c in counts)},
        )

    def stream_run_changed(self, *, stream_id, stream_name, event, reason, worker) -> None:
        audit_record(
            action=f"stream.run_{event}",
            actor_label=f"Stream worker {worker}"[:150],
            object_type="streams.streamconfig",
            object_id=str(stream_id),
            object_repr=stream_name,
            after={"reason": reason},
        )

    def knowledge_queried(self, *, query, client_address=None) -> None:
        """Seed 2's audit record, in the chain."""
        audit_record(
            action="knowledge.query",
            actor_label=query.requested_by,
            object_type="streams.knowledgequery",
            object_id=query.query_id,
            object_repr=str(query),
            after={**query.audit_fields(), "stream": query.stream.name, "origin": query.origin},
            origin=Origin(client_address=client_address),
        )

    def token_refused(self, *, where, reason, request) -> None:
        record_token_refused(where=where, reason=reason, origin=Origin.from_request(request))
