"""When the database falls behind, the buffer stays bounded and the reader stops reading."""

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async

import streams.worker.runner
from streams.models import Insight
from streams.worker.process import StreamWorkerProcess
from tests.simulator import eventually, start_simulator, stopped, stream_on, subscribed

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_stalled_database_stops_the_reader_not_the_memory(settings, monkeypatch):
    settings.STREAMS_BUFFER_LIMIT = 20
    settings.STREAMS_BATCH_SIZE = 10
    gate = threading.Event()
    processed = 0
    real_store, real_process = (
        streams.worker.runner.store_batch,
        streams.worker.runner.process_frame,
    )

    def stalled_store(stream_id, records):
        gate.wait(30)  # the database is "slow" until the gate opens
        return real_store(stream_id, records)

    def counting_process(*args, **kwargs):
        nonlocal processed
        processed += 1
        return real_process(*args, **kwargs)

    monkeypatch.setattr(streams.worker.runner, "store_batch", stalled_store)
    monkeypatch.setattr(streams.worker.runner, "process_frame", counting_process)

    simulator, url = await start_simulator()
    stream = await stream_on(url)
    worker = StreamWorkerProcess(worker_id="slow-db", reconcile_seconds=0.5, lease_seconds=60)
    task = asyncio.create_task(worker.run())
    await subscribed(simulator)
    simulator.emit(2000)
    await asyncio.sleep(1.5)

    # One batch in the writer, a full buffer, and the frame the reader holds: no more. The
    # rest waits in the socket (websockets stops reading when its small queue is full).
    assert processed <= 10 + 20 + 1, processed

    gate.set()

    @database_sync_to_async
    def count():
        return Insight.objects.filter(stream=stream).count()

    await eventually(
        lambda: _equals(count, 2000), within=60, what="everything stored after the stall"
    )
    worker.stop()
    await stopped(task)
    await simulator.stop()


async def _equals(query, value):
    return await query() == value
