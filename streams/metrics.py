"""Prometheus metrics, read from the database at scrape time.

Web and worker processes are separate, so counters live in the database (the stream
status rows and the webhook outbox), not in process memory: any web process can serve
/metrics for the whole deployment.
"""

from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from streams import ports
from streams.ingest.models import Insight
from streams.knowledge.figures import knowledge_families
from streams.webhooks.figures import webhook_families
from streams.worker.models import StreamState, StreamStatus
from streams.worker.reconciliation import latest_each

STREAM_COUNTERS = (
    ("frames", "assistgov_stream_frames", "Frames received"),
    ("insights_stored", "assistgov_stream_insights_stored", "Insights stored"),
    ("duplicates", "assistgov_stream_duplicates", "Insights received again and not stored twice"),
    ("quarantined", "assistgov_stream_quarantined", "Frames kept in quarantine"),
    ("reconnects", "assistgov_stream_reconnects", "Reconnections"),
    ("filtered", "assistgov_stream_filtered", "Insights outside their type's confidence range"),
)


class DatabaseCollector:
    def collect(self):
        now = timezone.now()
        statuses = list(StreamStatus.objects.select_related("stream").order_by("stream__name"))
        state = GaugeMetricFamily(
            "assistgov_stream_state", "1 for the state the stream is in", labels=["stream", "state"]
        )
        lag = GaugeMetricFamily(
            "assistgov_stream_lag_seconds",
            "Seconds since the stream's last frame",
            labels=["stream"],
        )
        counters = {
            field: CounterMetricFamily(name, text, labels=["stream"])
            for field, name, text in STREAM_COUNTERS
        }
        for status in statuses:
            name = status.stream.name
            for each in StreamState:
                state.add_metric([name, each.value], 1.0 if status.state == each else 0.0)
            if status.last_frame_at is not None:
                lag.add_metric([name], (now - status.last_frame_at).total_seconds())
            for field, metric in counters.items():
                metric.add_metric([name], getattr(status, field))
        yield state
        yield lag
        yield from counters.values()
        pending = GaugeMetricFamily("assistgov_insights_pending", "Insights waiting for a decision")
        pending.add_metric([], Insight.objects.pending().count())
        yield pending
        yield from reconciliation_families()
        yield from webhook_families()
        yield from knowledge_families()
        for families in ports.METRIC_FAMILIES:
            yield from families()


def reconciliation_families():
    """Each stream's latest finished reconciliation with Genesys' counts."""
    missing = GaugeMetricFamily(
        "assistgov_reconciliation_missing",
        "Suggestions Genesys counted that the stream has not stored, at its latest reconciliation",
        labels=["stream"],
    )
    finished = GaugeMetricFamily(
        "assistgov_reconciliation_finished_timestamp_seconds",
        "When the stream's latest reconciliation finished",
        labels=["stream", "state"],
    )
    for row in latest_each():
        if row.missing is not None:
            missing.add_metric([row.stream.name], row.missing)
        finished.add_metric([row.stream.name, row.state], row.finished_at.timestamp())
    yield missing
    yield finished


def exposition() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    return generate_latest(registry)
