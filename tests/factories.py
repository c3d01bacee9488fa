"""Small builders for configuration objects, with defaults a test can override."""

import itertools

from streams.models import ConfidenceMatrix, ConfidenceRule, GenesysConnection, StreamConfig

SIM_CLIENT_ID = "assistgov-demo"
SIM_CLIENT_SECRET = "assistgov-demo-secret"
_numbers = itertools.count(1)


def make_connection(*, name=None, url="http://127.0.0.1:9", secret=SIM_CLIENT_SECRET, **fields):
    connection = GenesysConnection(
        name=name or f"connection-{next(_numbers)}",
        api_base_url=url,
        login_base_url=url,
        client_id=SIM_CLIENT_ID,
        **fields,
    )
    if secret:
        connection.set_client_secret(secret)
    connection.full_clean()
    connection.save()
    return connection


def make_matrix(*, name=None, default_weight=0.5, rules=()):
    matrix = ConfidenceMatrix.objects.create(
        name=name or f"matrix-{next(_numbers)}", default_weight=default_weight
    )
    for insight_type, low, high, weight in rules:
        ConfidenceRule.objects.create(
            matrix=matrix,
            insight_type=insight_type,
            min_confidence=low,
            max_confidence=high,
            weight=weight,
        )
    return matrix


def make_stream(*, name=None, connection=None, matrix=None, enabled=False, **fields):
    stream = StreamConfig(
        name=name or f"stream-{next(_numbers)}",
        connection=connection or make_connection(),
        confidence_matrix=matrix or make_matrix(),
        enabled=enabled,
        **fields,
    )
    stream.full_clean()
    stream.save()
    return stream


def make_insight(*, stream=None, external_id=None, snippet="Offer the 30-day refund", **fields):
    from django.utils import timezone

    from streams.models import Insight

    number = next(_numbers)
    return Insight.objects.create(
        stream=stream or make_stream(name=f"stream-{number}"),
        external_id=external_id or f"evt-{number}",
        interaction_id=fields.pop("interaction_id", "interaction-12345"),
        insight_type=fields.pop("insight_type", "knowledge_recommendation"),
        confidence=fields.pop("confidence", 0.8),
        relevance_score=fields.pop("relevance_score", 0.8),
        snippet=snippet,
        payload=fields.pop("payload", {"type": "agentassist.insight"}),
        received_at=fields.pop("received_at", timezone.now()),
        latency_ms=fields.pop("latency_ms", 5.0),
        **fields,
    )


def make_knowledge_stream(*, name=None, connection=None, sources=(("kb-1", 1),), **fields):
    from streams.models import KnowledgeSource, KnowledgeStream, KnowledgeStreamSource

    stream = KnowledgeStream(
        name=name or f"knowledge-{next(_numbers)}",
        connection=connection or make_connection(),
        **fields,
    )
    stream.full_clean()
    stream.save()
    for knowledge_base_id, priority in sources:
        source, _ = KnowledgeSource.objects.get_or_create(
            knowledge_base_id=knowledge_base_id, defaults={"name": f"Source {knowledge_base_id}"}
        )
        KnowledgeStreamSource.objects.create(stream=stream, source=source, priority=priority)
    return stream


def make_knowledge_query(*, stream=None, text="refund policy", save=True, **fields):
    import uuid

    from django.utils import timezone

    from streams.models import KnowledgeQuery

    query = KnowledgeQuery(
        **{
            "stream": stream or make_knowledge_stream(),
            "query_id": uuid.uuid4().hex,
            "conversation_id": "conv-1",
            "query_text": text,
            "cache_key": "k" * 64,
            "origin": "console",
            "requested_by": "officer",
            "status": "answered",
            "governance_status": "PASS",
            "created_at": timezone.now(),
            **fields,
        }
    )
    if save:
        query.save()
    return query
