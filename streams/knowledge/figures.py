"""Figures of each knowledge stream, for the admin page and /metrics."""

from django.db import models
from django.db.models import Count, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from streams.knowledge.models import KnowledgeQuery, KnowledgeStream

LATENCY_SAMPLE = 1000


def knowledge_metrics(stream_id: int) -> dict:
    """Queries and their outcomes; latency percentiles over the last 1,000 answered ones.

    The seed's "accuracy rate" is defined honestly: validated results over returned results.
    """
    rows = KnowledgeQuery.objects.filter(stream_id=stream_id)
    by_status = dict(rows.values_list("status").annotate(n=Count("pk")).order_by())
    totals = rows.aggregate(
        queries=Count("pk"),
        cache_hits=Count("pk", filter=models.Q(cache_hit=True)),
        returned=Sum("results_returned"),
        validated=Sum("results_validated"),
    )
    latencies = sorted(
        rows.filter(status=KnowledgeQuery.Status.ANSWERED)
        .order_by("-created_at")
        .values_list("latency_ms", flat=True)[:LATENCY_SAMPLE]
    )
    answered = by_status.get(KnowledgeQuery.Status.ANSWERED, 0)
    return {
        "queries": totals["queries"],
        "answered": answered,
        "timed_out": by_status.get(KnowledgeQuery.Status.TIMEOUT, 0),
        "errors": totals["queries"] - answered - by_status.get(KnowledgeQuery.Status.TIMEOUT, 0),
        "latency_p50_ms": _percentile(latencies, 0.50),
        "latency_p95_ms": _percentile(latencies, 0.95),
        "validated_ratio": _ratio(totals["validated"], totals["returned"]),
        "cache_hit_ratio": _ratio(totals["cache_hits"], answered),
    }


def _percentile(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _ratio(part, whole) -> float | None:
    return (part or 0) / whole if whole else None


KNOWLEDGE_FIGURES = (
    ("queries", CounterMetricFamily, "assistgov_knowledge_queries", "Knowledge queries"),
    ("answered", CounterMetricFamily, "assistgov_knowledge_answered", "Queries answered"),
    ("timed_out", CounterMetricFamily, "assistgov_knowledge_timed_out", "Queries timed out"),
    ("errors", CounterMetricFamily, "assistgov_knowledge_errors", "Queries failed otherwise"),
    ("latency_p50_ms", GaugeMetricFamily, "assistgov_knowledge_latency_p50_ms", "Median latency"),
    ("latency_p95_ms", GaugeMetricFamily, "assistgov_knowledge_latency_p95_ms", "95th pct latency"),
    (
        "validated_ratio",
        GaugeMetricFamily,
        "assistgov_knowledge_validated_ratio",
        "Results validated over results returned",
    ),
    ("cache_hit_ratio", GaugeMetricFamily, "assistgov_knowledge_cache_hit_ratio", "Cache hits"),
)


def knowledge_families():
    families = {
        key: kind(name, text, labels=["stream"]) for key, kind, name, text in KNOWLEDGE_FIGURES
    }
    for stream_id, name in KnowledgeStream.objects.values_list("pk", "name"):
        for key, value in knowledge_metrics(stream_id).items():
            if value is not None:
                families[key].add_metric([name], value)
    yield from families.values()
