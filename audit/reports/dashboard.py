"""The dashboard's figures (aggregate queries over a time window) and its server-rendered SVG.

SVG is built here rather than in the browser: no charting library to vendor, the charts
work without JavaScript, and every label goes through Django's escaping."""

from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Count, F, Max, OuterRef, Q, Subquery
from django.db.models.functions import Floor, TruncHour, TruncMinute
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from audit.formats import people_time
from audit.vocabulary import type_label, type_labels
from streams.genesys.times import iso
from streams.models import Insight, KnowledgeQuery, KnowledgeStream, StreamStatus
from streams.worker.reconciliation import latest_each

DEFAULT_HOURS = 24
MAX_HOURS = 24 * 90
BUCKETS = 20  # confidence buckets of 0.05
TYPE_COLOURS = ("#0969da", "#bf8700", "#cf222e", "#1a7f37", "#8250df", "#57606a")


OUTCOME_COLOURS = {
    "pending": "#57606a",
    "approved": "#1a7f37",
    "rejected": "#cf222e",
    "filtered": "#bf8700",
}


WIDTH, HEIGHT, MARGIN = 720, 220, 36


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def window_hours(value) -> int:
    if value in (None, ""):
        return DEFAULT_HOURS
    try:
        hours = int(value)
    except ValueError:
        raise ValidationError(f"hours {value!r} is not a whole number") from None
    if not 1 <= hours <= MAX_HOURS:
        raise ValidationError(f"hours must be between 1 and {MAX_HOURS}")
    return hours


def dashboard_context(hours: int) -> dict:
    since = timezone.now() - timedelta(hours=hours)
    window = Insight.objects.filter(received_at__gte=since)
    buckets = calibration(window)
    decided = outcomes(window)
    times, series, minutes = per_type_over_time(window, hours)
    known = type_labels()
    labels = {name: type_label(name, known) for name in series}
    return {
        "hours": hours,
        "since": since,
        "total": window.count(),
        "per_type_chart": per_type_chart(times, series, minutes, labels),
        "per_type_table": per_type_table(times, series, labels),
        "bucket_minutes": minutes,
        "outcomes": decided,
        "decided_total": sum(row["total"] for row in decided if row["status"] != "pending"),
        "outcome_chart": outcome_chart(decided),
        "calibration_chart": calibration_chart(buckets),
        "calibrated": any(bucket["rate"] is not None for bucket in buckets),
        "thresholds": threshold_table(buckets),
        "latency": latency_percentiles(window),
        "streams": stream_health(),
        "knowledge_streams": knowledge_health(),
        "reconciliations": latest_each(),
    }


# Bucket lengths for the per-type chart, in minutes: the shortest that gives at most
# MAX_BARS bars over the time the data spans (minutes for a first hour, days for a month).
BUCKET_MINUTES = (1, 5, 15, 30, 60, 180, 360, 720, 1440)
MAX_BARS = 48


def bucket_minutes(first: datetime, last: datetime) -> int:
    span = (last - first).total_seconds() / 60
    return next((m for m in BUCKET_MINUTES if span / m < MAX_BARS), BUCKET_MINUTES[-1])


def per_type_over_time(window, hours: int) -> tuple[list, dict, int]:
    """Bucket start times (every bucket from the first to the last, empty ones included),
    counts per type per bucket, and the bucket length in minutes."""
    trunc = TruncMinute if hours <= 48 else TruncHour
    rows = list(
        window.annotate(bucket=trunc("received_at", tzinfo=UTC))
        .values("bucket", "insight_type")
        .annotate(n=Count("id"))
        .order_by("bucket")
    )
    if not rows:
        return [], {}, 0
    minutes = bucket_minutes(rows[0]["bucket"], rows[-1]["bucket"])
    if trunc is TruncHour:
        minutes = max(minutes, 60)
    length = timedelta(minutes=minutes)

    def start(moment: datetime) -> datetime:
        return EPOCH + (moment - EPOCH) // length * length

    first, last = start(rows[0]["bucket"]), start(rows[-1]["bucket"])
    times = [first + i * length for i in range((last - first) // length + 1)]
    series: dict[str, list[int]] = {}
    for row in rows:
        counts = series.setdefault(row["insight_type"], [0] * len(times))
        counts[(start(row["bucket"]) - first) // length] += row["n"]
    return times, series, minutes


def per_type_table(times, series, labels: dict[str, str]) -> dict:
    """The chart's numbers as a table (a fallback for people who cannot see the chart)."""
    names = sorted(series)
    return {
        "columns": [labels[name] for name in names],
        "rows": [
            {"time": people_time(when), "counts": [series[name][i] for name in names]}
            for i, when in enumerate(times)
            if any(series[name][i] for name in names)
        ],
    }


def outcomes(window) -> list[dict]:
    """Decisions by outcome, split into people's and rules' decisions."""
    rows = window.values("review_status").annotate(
        people=Count("id", filter=Q(reviewed_by__isnull=False)),
        rules=Count("id", filter=~Q(review_rule="")),
        total=Count("id"),
    )
    by_status = {row["review_status"]: row for row in rows}
    return [
        {
            "status": status,
            "total": by_status.get(status, {}).get("total", 0),
            "people": by_status.get(status, {}).get("people", 0),
            "rules": by_status.get(status, {}).get("rules", 0),
        }
        for status in OUTCOME_COLOURS
    ]


def calibration(window) -> list[dict]:
    """Per confidence bucket of 0.05: everything received, and people's approvals and rejections."""
    rows = (
        window.filter(confidence__isnull=False)  # insights without one have no bucket
        .annotate(bucket=Floor(F("confidence") * BUCKETS))
        .values("bucket")
        .annotate(
            received=Count("id"),
            approved=Count("id", filter=Q(review_status="approved", reviewed_by__isnull=False)),
            rejected=Count("id", filter=Q(review_status="rejected")),
        )
    )
    buckets = [
        {"low": n / BUCKETS, "received": 0, "approved": 0, "rejected": 0} for n in range(BUCKETS)
    ]
    for row in rows:
        bucket = buckets[min(int(row["bucket"]), BUCKETS - 1)]  # confidence 1.0 joins the top
        for key in ("received", "approved", "rejected"):
            bucket[key] += row[key]
    for bucket in buckets:
        decided = bucket["approved"] + bucket["rejected"]
        bucket["rate"] = bucket["approved"] / decided if decided else None
    return buckets


def threshold_table(buckets: list[dict]) -> list[dict]:
    """For minimum confidences 0.50..0.95: what a rule at that minimum would have filtered."""
    table = []
    for n in range(10, BUCKETS):
        below = buckets[:n]
        table.append(
            {
                "threshold": n / BUCKETS,
                "filtered": sum(b["received"] for b in below),
                "approved": sum(b["approved"] for b in below),
                "rejected": sum(b["rejected"] for b in below),
            }
        )
    return table


def latency_percentiles(window) -> dict:
    """Processing latency (received to stored) at p50, p95 and p99, in milliseconds."""
    count = window.count()
    result = {"count": count}
    ordered = window.order_by("latency_ms").values_list("latency_ms", flat=True)
    for name, fraction in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        result[name] = ordered[min(count - 1, int(fraction * count))] if count else None
    return result


def stream_health() -> list[dict]:
    statuses = StreamStatus.objects.select_related("stream").order_by("stream__name")
    return [
        {
            "name": status.stream.name,
            "enabled": status.stream.enabled,
            "state": status.state,
            "detail": status.detail,
            "state_changed_at": iso(status.state_changed_at),
            "retry_at": iso(status.retry_at) if status.state != "connected" else None,
            "last_frame_at": iso(status.last_frame_at),
            "reconnects": status.reconnects,
            "insights_stored": status.insights_stored,
            "quarantined": status.quarantined,
            "last_error": status.last_error,
        }
        for status in statuses
    ]


def knowledge_health(hours: int = 1) -> list[dict]:
    """Each knowledge stream: the state its connection last reported, and its last hour
    (searches, how many failed, the latest failure), in one query."""
    since = timezone.now() - timedelta(hours=hours)
    answered = KnowledgeQuery.Status.ANSWERED
    recent = Q(queries__created_at__gte=since)
    latest_failure = (
        KnowledgeQuery.objects.filter(stream=OuterRef("pk"), created_at__gte=since)
        .exclude(status=answered)
        .order_by("-created_at")
        .values("error_message")[:1]
    )
    streams = KnowledgeStream.objects.order_by("name").annotate(
        searched=Count("queries", filter=recent),
        failed=Count("queries", filter=recent & ~Q(queries__status=answered)),
        last_query_at=Max("queries__created_at"),
        last_error=Subquery(latest_failure),
    )
    return [
        {
            "name": stream.name,
            "enabled": stream.enabled,
            "state": stream.state if stream.enabled else "disabled",
            "detail": stream.state_detail,
            "last_query_at": stream.last_query_at,
            "queries": stream.searched,
            "failed": stream.failed,
            "last_error": stream.last_error or "",
        }
        for stream in streams
    ]


def _n(value: float) -> str:
    """A coordinate, formatted before format_html turns it into text."""
    return f"{value:.1f}"


def _svg(body, *, height=HEIGHT, label=""):
    return format_html(
        '<svg viewBox="0 0 {} {}" role="img" aria-label="{}" class="chart">{}</svg>',
        WIDTH,
        height,
        label,
        body,
    )


def _legend(names, colours, y):
    items = []
    x = MARGIN
    for name, colour in zip(names, colours, strict=False):
        items.append(
            format_html(
                '<rect x="{}" y="{}" width="10" height="10" fill="{}"/>'
                '<text x="{}" y="{}" class="legend">{}</text>',
                x,
                y,
                colour,
                x + 14,
                y + 9,
                name,
            )
        )
        x += 14 + 8 * len(name) + 16
    return mark_safe("".join(items))  # noqa: S308  (parts built with format_html)


def per_type_chart(times, series, minutes: int, labels: dict[str, str]):
    if not times:
        return None
    totals = [sum(values[i] for values in series.values()) for i in range(len(times))]
    top = max(totals) or 1
    plot_height = HEIGHT - 2 * MARGIN
    step = (WIDTH - 2 * MARGIN) / len(times)
    names = sorted(series)
    colours = [TYPE_COLOURS[i % len(TYPE_COLOURS)] for i in range(len(names))]
    bars = []
    for i, when in enumerate(times):
        y = HEIGHT - MARGIN
        for name, colour in zip(names, colours, strict=True):
            value = series[name][i]
            height = plot_height * value / top
            y -= height
            bars.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{} ({} min): {} {}</title></rect>",
                    _n(MARGIN + i * step + 1),
                    _n(y),
                    _n(max(step - 2, 1)),
                    _n(height),
                    colour,
                    people_time(when),
                    minutes,
                    value,
                    labels[name],
                )
            )
    axis = format_html(
        '<text x="{}" y="{}" class="axis">{}</text><text x="{}" y="{}" class="axis">{}</text>'
        '<text x="4" y="{}" class="axis">{}</text>',
        MARGIN,
        HEIGHT - MARGIN + 14,
        people_time(times[0]),
        WIDTH - MARGIN - 130,
        HEIGHT - MARGIN + 14,
        people_time(times[-1]),
        MARGIN,
        f"{top:,}",
    )
    legend = _legend([labels[name] for name in names], colours, HEIGHT - 14)
    return _svg(
        format_html("{}{}{}", mark_safe("".join(bars)), axis, legend),  # noqa: S308
        label="Insights per type over time",
    )


def outcome_chart(rows: list[dict]):
    top = max((row["total"] for row in rows), default=0) or 1
    bar_width = WIDTH - 2 * MARGIN - 160
    lines = format_html_join(
        "",
        '<text x="{}" y="{}" class="label">{}</text>'
        '<rect x="{}" y="{}" width="{}" height="22" fill="{}"><title>{}</title></rect>'
        '<text x="{}" y="{}" class="value">{}</text>',
        (
            (
                MARGIN,
                MARGIN + i * 34 + 15,
                row["status"].capitalize(),
                MARGIN + 90,
                MARGIN + i * 34,
                _n(bar_width * row["total"] / top),
                OUTCOME_COLOURS[row["status"]],
                f"{row['people']} by people, {row['rules']} by rules",
                _n(MARGIN + 96 + bar_width * row["total"] / top),
                MARGIN + i * 34 + 15,
                f"{row['total']:,}",
            )
            for i, row in enumerate(rows)
        ),
    )
    return _svg(lines, height=2 * MARGIN + 34 * len(rows), label="Decisions by outcome")


def calibration_chart(buckets: list[dict]):
    plot_height = HEIGHT - 2 * MARGIN
    step = (WIDTH - 2 * MARGIN) / len(buckets)
    bars = []
    for i, bucket in enumerate(buckets):
        x = MARGIN + i * step
        if bucket["rate"] is None:
            continue
        height = plot_height * bucket["rate"]
        bars.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="#1a7f37">'
                "<title>confidence {}: {} approved ({} approved, {} rejected)</title>"
                "</rect>",
                _n(x + 2),
                _n(HEIGHT - MARGIN - height),
                _n(step - 4),
                _n(height),
                f"{bucket['low']:.2f}-{bucket['low'] + 1 / BUCKETS:.2f}",
                f"{bucket['rate']:.0%}",
                bucket["approved"],
                bucket["rejected"],
            )
        )
    axis = format_html(
        '<line x1="{}" y1="{}" x2="{}" y2="{}" class="ideal"/>'
        '<text x="{}" y="{}" class="axis">0</text><text x="{}" y="{}" class="axis">0.5</text>'
        '<text x="{}" y="{}" class="axis">1.0</text><text x="4" y="{}" class="axis">100%</text>',
        MARGIN,
        HEIGHT - MARGIN,
        WIDTH - MARGIN,
        MARGIN,
        MARGIN,
        HEIGHT - MARGIN + 14,
        WIDTH / 2,
        HEIGHT - MARGIN + 14,
        WIDTH - MARGIN - 16,
        HEIGHT - MARGIN + 14,
        MARGIN,
    )
    return _svg(
        format_html("{}{}", mark_safe("".join(bars)), axis),  # noqa: S308
        label="Approval rate by confidence",
    )
