"""The stream runner's writer: outages wait, refusals are quarantined, nothing is lost."""

import asyncio
import dataclasses
import json
import time

import pytest
from channels.db import database_sync_to_async
from django.db import OperationalError

import streams.worker.runner
from streams.genesys.frames import Frame
from streams.genesys.scoring import Matrix
from streams.ingest.records import process_frame, read_seed_event
from streams.ingest.store import store_batch
from streams.models import Insight, QuarantinedFrame
from streams.worker.runner import StreamRunner
from streams.worker.specs import stream_spec
from tests.factories import make_stream

pytestmark = pytest.mark.django_db(transaction=True)
MATRIX = Matrix(default_weight=1.0)


def record(event_id):
    frame = {
        "type": "agentassist.insight",
        "id": event_id,
        "interaction_id": "interaction-1",
        "insight_type": "sentiment_alert",
        "confidence": 0.7,
        "content": {"text": "text"},
    }
    return process_frame(
        Frame(json.dumps(frame), time.time()),
        read=read_seed_event,
        matrix=MATRIX,
        max_frame_bytes=10_000,
    )


@database_sync_to_async
def runner_for_new_stream():
    stream = make_stream()
    return StreamRunner(stream_spec(stream), http=None, tokens=None, worker="test")


@database_sync_to_async
def stored(model, **filters):
    return list(model.objects.filter(**filters).values_list("external_id", flat=True))


async def test_a_database_outage_delays_a_batch_without_losing_it(monkeypatch):
    runner = await runner_for_new_stream()
    failures = []

    def flaky(stream_id, records):
        if len(failures) < 2:
            failures.append("down")
            raise OperationalError("database is locked")
        return store_batch(stream_id, records)

    monkeypatch.setattr(streams.worker.runner, "store_batch", flaky)
    result = await runner._store([record("evt-1"), record("evt-2")])
    assert len(failures) == 2
    assert len(result.created_ids) == 2
    assert sorted(await stored(Insight)) == ["evt-1", "evt-2"]


async def test_a_record_the_database_refuses_is_quarantined_and_the_rest_stored(monkeypatch):
    runner = await runner_for_new_stream()

    def refuses_evt_2(stream_id, records):
        if any(getattr(r, "external_id", "") == "evt-2" for r in records):
            raise ValueError("value out of range")
        return store_batch(stream_id, records)

    monkeypatch.setattr(streams.worker.runner, "store_batch", refuses_evt_2)
    result = await runner._store([record("evt-1"), record("evt-2"), record("evt-3")])
    assert sorted(await stored(Insight)) == ["evt-1", "evt-3"]
    assert result.last_event_id == "evt-3"

    @database_sync_to_async
    def quarantined():
        return list(QuarantinedFrame.objects.values_list("reason", "raw"))

    ((reason, raw),) = await quarantined()
    assert reason == "could not be stored: ValueError: value out of range"
    assert json.loads(raw)["id"] == "evt-2"


async def test_a_stream_that_cannot_start_waits_for_its_configuration_to_change():
    runner = await runner_for_new_stream()
    runner.spec = dataclasses.replace(runner.spec, problem="cannot start: no secret")
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.3)
    assert not task.done(), "it must not end and be restarted in a loop"
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.django_db
def test_a_waiting_stream_says_when_it_tries_again_and_a_connected_one_does_not():
    from datetime import UTC, datetime

    from streams.models import StreamStatus
    from streams.worker.runner import status_report
    from tests.factories import make_stream

    stream = make_stream()
    StreamStatus.objects.filter(pk=stream.pk).update(worker="w")
    status_report(stream.pk, "error", "closed (1008: org suspended)", "w", retry_in=300)
    status = StreamStatus.objects.get(pk=stream.pk)
    assert 290 < (status.retry_at - datetime.now(UTC)).total_seconds() <= 300
    status_report(stream.pk, "connected", "subscribed", "w")
    assert StreamStatus.objects.get(pk=stream.pk).retry_at is None
