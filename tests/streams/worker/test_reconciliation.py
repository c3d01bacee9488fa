"""Reconciliation with Genesys, through the stream worker against the simulator: Genesys'
Copilot aggregates count the suggestions; a gap (suggestions the simulator lost on the way)
is found, named by conversation and back-filled; the result is on the stream's page, on
/metrics and in the trail."""

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.test import Client
from django.urls import reverse

from audit.trail.models import AuditEntry
from streams.models import GenesysConnection, Insight, Reconciliation
from streams.simulator.notifications import suggestion_id, suggestion_kind
from streams.worker.process import StreamWorkerProcess
from streams.worker.reconciliation import request_today
from tests.factories import make_connection, make_matrix, make_stream
from tests.simulator import eventually, start_simulator

pytestmark = pytest.mark.django_db(transaction=True)

# Suggestions Genesys lists and counts (intents are neither): what a back-fill can bring.
LISTED = {"insight_type": "knowledge_recommendation"}


@pytest.fixture
async def sim():
    await get_channel_layer().flush()
    simulator, url = await start_simulator(interactions=4, heartbeat_seconds=0.2)
    yield simulator, url
    await simulator.stop()


@pytest.fixture
async def worker(settings):
    settings.STREAMS_HEARTBEAT_TIMEOUT_SECONDS = 2.0
    process = StreamWorkerProcess(worker_id="test-worker", reconcile_seconds=60, lease_seconds=600)
    task = asyncio.create_task(process.run())
    yield process
    process.stop()
    await asyncio.wait_for(task, 30)


@database_sync_to_async
def listing_stream(url, conversations, rules=()):
    connection = make_connection(url=url, flavour=GenesysConnection.Flavour.NOTIFICATIONS)
    return make_stream(
        connection=connection,
        matrix=make_matrix(rules=rules),
        interaction_ids=conversations,
        enabled=True,
    )


@database_sync_to_async
def stored(stream) -> set[str]:
    return set(Insight.objects.filter(stream=stream).values_list("external_id", flat=True))


@database_sync_to_async
def asked(stream, by="rita") -> Reconciliation:
    return request_today(stream, by=by, settle=timedelta(0))  # what the test emitted, landed


@database_sync_to_async
def finished(row) -> Reconciliation | None:
    row.refresh_from_db()
    return row if row.finished_at else None


async def test_a_gap_is_found_named_and_filled(sim, worker, gov_admin, settings):
    settings.METRICS_TOKEN, settings.METRICS_PUBLIC = "", True
    simulator, url = sim
    stream = await listing_stream(url, simulator.generator.interactions)
    worker.supervisor.nudge()
    await eventually(lambda: simulator.notifications.sockets, what="a channel socket")
    simulator.emit(20, LISTED)
    simulator.inject({"action": "lose", "count": 7})
    simulator.emit(20, LISTED)
    await eventually(lambda: simulator.counters["notifications_lost"] == 7, what="7 lost")

    async def all_but_lost():
        return len(await stored(stream)) == 33

    await eventually(all_but_lost, what="33 stored, 7 lost on the way")

    row = await asked(stream)
    worker.supervisor.nudge()
    row = await eventually(lambda: finished(row), what="the reconciliation")
    assert row.state == Reconciliation.State.FILLED
    assert (row.genesys_count, row.stored_before, row.stored_after, row.missing) == (40, 33, 40, 0)
    lost_in = {
        e["interaction_id"] for e in simulator.events if e["id"] in simulator.notifications.lost
    }
    assert set(row.conversations_short) == lost_in
    assert await stored(stream) == {suggestion_id(e["id"]) for e in simulator.events}
    assert sum(v["genesys"] for v in row.by_type.values()) == 40

    @database_sync_to_async
    def trail_page_and_metrics():
        entry = AuditEntry.objects.get(action="stream.run_reconciled")
        client = Client()
        client.force_login(gov_admin)
        page = client.get(reverse("admin:streams_streamconfig_change", args=[stream.pk]))
        metrics = Client().get("/metrics")
        dashboard = client.get(reverse("dashboard")).content.decode()
        return entry, page.content.decode(), metrics, dashboard

    entry, page, metrics, dashboard = await trail_page_and_metrics()
    assert "Reconciled with Genesys" in dashboard
    assert "Missing suggestions found and back-filled" in dashboard
    assert "rita: Genesys counted 40 suggestions; 33 were stored; " in entry.after["reason"]
    assert "Missing suggestions found and back-filled" in page
    assert "rita" in page
    assert metrics.status_code == 200
    assert f'assistgov_reconciliation_missing{{stream="{stream.name}"}} 0.0' in (
        metrics.content.decode()
    )


async def test_what_the_rules_drop_is_accounted_for_and_a_refusal_is_plain(sim, worker):
    simulator, url = sim
    # Knowledge-search suggestions under 0.9 are dropped as configured: not stored, and not
    # missing either.
    rules = [("knowledge.search", 0.9, 1.0, 1.0)]
    stream = await listing_stream(url, simulator.generator.interactions, rules)
    worker.supervisor.nudge()
    await eventually(lambda: simulator.notifications.sockets, what="a channel socket")
    simulator.emit(40, LISTED)
    dropped = [
        e
        for e in simulator.events
        if suggestion_kind(e) == "knowledge.search" and e["confidence"] < 0.9
    ]
    assert dropped

    async def kept_stored():
        return len(await stored(stream)) == 40 - len(dropped)

    await eventually(kept_stored, what="the rest stored")
    row = await asked(stream)
    worker.supervisor.nudge()
    row = await eventually(lambda: finished(row), what="the first reconciliation")
    assert row.state == Reconciliation.State.MATCHED
    assert (row.genesys_count, row.stored_after, row.dropped_by_design) == (
        40,
        40 - len(dropped),
        len(dropped),
    )
    assert row.missing == 0
    assert row.detail == (
        f"rita: Genesys counted 40 suggestions; {40 - len(dropped)} stored, {len(dropped)} "
        "dropped by the stream's filters or confidence rules (as configured): all accounted for."
    )

    simulator.inject({"action": "permissions", "missing": ["analytics:agentCopilotAggregate:view"]})
    row = await asked(stream)
    worker.supervisor.nudge()
    row = await eventually(lambda: finished(row), what="the second reconciliation")
    assert row.state == Reconciliation.State.FAILED
    assert "permission denied (HTTP 403)" in row.detail


@pytest.mark.django_db(transaction=False)
async def test_a_stop_that_comes_as_the_reconciler_is_woken_still_stops_it(monkeypatch):
    """The runner cancels its reconciler when it stops; a wake-up at the same moment (a
    request, the day's check) must not swallow that cancellation (asyncio.wait_for does on
    Python 3.11), or the runner never stops."""
    from types import SimpleNamespace

    from streams.worker import reconciliation

    async def nothing_due(stream_id):
        return []

    monkeypatch.setattr(reconciliation, "_due", nothing_due)
    runner = SimpleNamespace(spec=SimpleNamespace(stream_id=1, name="s"))
    reconciler = reconciliation.Reconciler(runner)
    task = asyncio.create_task(reconciler.run())
    await eventually(lambda: reconciler.wakeup._waiters, what="the reconciler waiting")
    reconciler.wake()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=60)
    assert done and task.cancelled(), "the reconciler went on after it was cancelled"
