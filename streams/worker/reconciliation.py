"""Reconciliation with Genesys: proof, against Genesys' own numbers, that no suggestion was
missed (notifications streams).

For an interval (each UTC day, once it is over; or today so far, when an admin asks), the
runner asks Genesys' Copilot aggregates for the count of the stream's suggestions per
conversation and kind, and counts what was stored for the same (by event time). A
conversation short of Genesys' count is back-filled from its REST listing (duplicates are
dropped downstream), then counted again. The result is a `Reconciliation` row (the stream's
page, the dashboard, /metrics) and an audit entry. What is still short after the back-fill
was received and not stored on purpose: dropped by the stream's filters or confidence rules,
or quarantined (the stream's counters say how many).
"""

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, time, timedelta

from django.db.models import Count, OuterRef, Subquery

from assistgov.asyncdb import database_sync_to_async
from streams import ports
from streams.genesys.errors import GenesysError
from streams.ingest.models import Insight
from streams.ingest.records import Filtered
from streams.worker.models import Reconciliation

logger = logging.getLogger(__name__)

DAILY = "daily check"
SHOWN_CONVERSATIONS = 200
SETTLE = timedelta(minutes=1)


def day_interval(day) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def request_today(stream, *, by: str, settle: timedelta = SETTLE) -> Reconciliation:
    """An admin's request: today (UTC) up to a minute ago (what is in flight has landed by
    then), for the stream worker to run."""
    now = datetime.now(UTC)
    start = max(day_interval(now.date())[0], stream.created_at)
    return Reconciliation.objects.create(
        stream=stream,
        interval_start=start,
        interval_end=max(start, now - settle),
        requested_by=by,
        requested_at=now,
    )


def latest_each() -> list[Reconciliation]:
    """Each stream's latest finished reconciliation, by stream name (one query)."""
    from streams.config.models import StreamConfig

    latest = (
        Reconciliation.objects.filter(stream=OuterRef("pk"))
        .exclude(finished_at=None)
        .order_by("-finished_at", "-pk")
        .values("pk")[:1]
    )
    each = StreamConfig.objects.annotate(latest=Subquery(latest)).values("latest")
    rows = Reconciliation.objects.filter(pk__in=each).select_related("stream")
    return sorted(rows, key=lambda row: row.stream.name)


@database_sync_to_async
def _due(stream_id: int) -> list[Reconciliation]:
    """Yesterday's daily check (made once), and every request waiting."""
    from streams.config.models import StreamConfig

    stream = StreamConfig.objects.get(pk=stream_id)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    start, end = day_interval(yesterday)
    if stream.created_at < end:
        Reconciliation.objects.get_or_create(
            stream=stream,
            interval_end=end,
            requested_by=DAILY,
            defaults={
                "interval_start": max(start, stream.created_at),
                "requested_at": datetime.now(UTC),
            },
        )
    waiting = Reconciliation.objects.filter(stream=stream, state=Reconciliation.State.REQUESTED)
    return list(waiting.order_by("requested_at", "pk"))


@database_sync_to_async
def stored_counts(stream_id: int, start: datetime, end: datetime) -> dict[tuple[str, str], int]:
    rows = (
        Insight.objects.filter(stream_id=stream_id, event_time__gte=start, event_time__lt=end)
        .values_list("interaction_id", "insight_type")
        .annotate(n=Count("pk"))
    )
    return {(conversation, kind): n for conversation, kind, n in rows}


@database_sync_to_async
def _finish(row: Reconciliation, stream_name: str, worker: str) -> None:
    row.finished_at = datetime.now(UTC)
    row.save()
    ports.governance().stream_run_changed(
        stream_id=row.stream_id,
        stream_name=stream_name,
        event="reconciled",
        reason=row.detail,
        worker=worker,
    )


def _by_kind(counts: dict[tuple[str, str], int]) -> dict[str, int]:
    found: dict[str, int] = {}
    for (_, kind), n in counts.items():
        found[kind] = found.get(kind, 0) + n
    return found


class Reconciler:
    """Runs a notifications stream's reconciliations, in its runner (which holds its client
    and its writer)."""

    def __init__(self, runner):
        self.runner = runner
        self.wakeup = asyncio.Event()

    def wake(self) -> None:
        self.wakeup.set()

    async def run(self) -> None:
        while True:
            try:
                for row in await _due(self.runner.spec.stream_id):
                    await self.reconcile(row)
            except Exception:
                logger.exception("stream %s: reconciliation failed", self.runner.spec.name)
            now = datetime.now(UTC)
            tomorrow = day_interval(now.date())[1]
            # The day's check a little after midnight (late events), or when asked.
            wait = (tomorrow - now).total_seconds() + 300
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(wait, 3600.0)):
                    await self.wakeup.wait()
            self.wakeup.clear()

    async def reconcile(self, row: Reconciliation) -> None:
        client, spec = self.runner.client, self.runner.spec
        start, end = row.interval_start, row.interval_end
        try:
            genesys = await client.copilot_counts(start.timestamp(), end.timestamp())
        except GenesysError as exc:
            row.state = Reconciliation.State.FAILED
            row.detail = f"{row.requested_by}: Genesys' counts could not be read: {exc}"[:500]
            await _finish(row, spec.name, self.runner.worker)
            return
        before = await stored_counts(spec.stream_id, start, end)
        short = sorted({c for (c, kind), n in genesys.items() if n > before.get((c, kind), 0)})
        # What the back-fill hands on that the stream drops by design (its filters and
        # confidence rules), by suggestion: it accounts for a difference.
        dropped: dict[tuple[str, str], set[str]] = {}

        def tap(record) -> None:
            if isinstance(record, Filtered) and record.interaction_id in short_set:
                key = (record.interaction_id, record.insight_type)
                dropped.setdefault(key, set()).add(record.external_id)

        short_set = set(short)
        self.runner.taps.append(tap)
        try:
            overlap = client.settings.backfill_overlap
            for conversation in short:
                await client.backfill(conversation, start.timestamp() - overlap)
            await self.runner.queue.join()  # what the back-fill handed on, stored
        finally:
            self.runner.taps.remove(tap)
        after = await stored_counts(spec.stream_id, start, end) if short else before
        _record(row, genesys, before, after, short, dropped)
        logger.info("stream %s: %s", spec.name, row.detail)
        await _finish(row, spec.name, self.runner.worker)


def _record(row, genesys, before, after, short, dropped) -> None:
    """Only what Genesys counted is compared, per conversation and kind: a stored suggestion
    Genesys does not count (outside its interval by a clock's difference, or of a kind the
    stream does not follow) does not hide a missing one."""

    def accounted(stored):
        return {key: min(n, stored.get(key, 0)) for key, n in genesys.items()}

    counted = sum(genesys.values())
    stored_before = sum(accounted(before).values())
    stored_after = sum(accounted(after).values())
    by_design = sum(
        min(len(dropped.get(key, ())), n - accounted(after)[key]) for key, n in genesys.items()
    )
    g, b, a = (_by_kind(genesys), _by_kind(accounted(before)), _by_kind(accounted(after)))
    row.by_type = {k: {"genesys": g[k], "before": b.get(k, 0), "after": a.get(k, 0)} for k in g}
    row.genesys_count, row.stored_before, row.stored_after = counted, stored_before, stored_after
    row.dropped_by_design = by_design
    row.conversations_short = short[:SHOWN_CONVERSATIONS]
    unexplained = counted - stored_after - by_design
    filled = stored_after - stored_before
    said = f"{row.requested_by}: Genesys counted {counted} suggestions; "
    kept = f"{stored_after} stored" + (
        f", {by_design} dropped by the stream's filters or confidence rules (as configured)"
        if by_design
        else ""
    )
    if unexplained > 0:
        row.state = Reconciliation.State.SHORT
        row.detail = (
            f"{said}{kept} after back-filling {len(short)} conversations: {unexplained} not "
            f"accounted for (quarantined, see the stream's counters, or not in Genesys' "
            f"listing)."
        )
    elif filled > 0:
        row.state = Reconciliation.State.FILLED
        row.detail = (
            f"{said}{stored_before} were stored; {len(short)} conversations were short and "
            f"back-filled: now {kept}, all accounted for."
        )
    else:
        row.state = Reconciliation.State.MATCHED
        row.detail = f"{said}{kept}: all accounted for."
