"""Figures of the webhook outbox, for /metrics."""

from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from streams.webhooks.models import WebhookAttempt, WebhookDelivery


def webhook_families():
    by_status = GaugeMetricFamily(
        "assistgov_webhook_deliveries",
        "Webhook deliveries by endpoint and status",
        labels=["endpoint", "status"],
    )
    rows = WebhookDelivery.objects.values("endpoint__name", "status").annotate(n=Count("pk"))
    for row in rows:
        by_status.add_metric([row["endpoint__name"], row["status"]], row["n"])
    failures = CounterMetricFamily(
        "assistgov_webhook_failed_attempts", "Delivery attempts that failed", labels=["endpoint"]
    )
    failed = (
        WebhookAttempt.objects.exclude(status_code__gte=200, status_code__lt=300)
        .values("delivery__endpoint__name")
        .annotate(n=Count("pk"))
    )
    for row in failed:
        failures.add_metric([row["delivery__endpoint__name"]], row["n"])
    return [by_status, failures]
