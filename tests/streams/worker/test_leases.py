"""Stream leases: one worker per stream, fair shares, handover."""

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from streams.models import StreamStatus, WorkerHeartbeat
from streams.worker import leases
from streams.worker.process import StreamWorkerProcess
from tests.factories import make_connection, make_matrix, make_stream
from tests.simulator import eventually, start_simulator


def streams(count, url="http://127.0.0.1:9", enabled=True):
    connection, matrix = make_connection(url=url), make_matrix()
    return [
        make_stream(connection=connection, matrix=matrix, enabled=enabled).pk for _ in range(count)
    ]


@pytest.mark.django_db
def test_a_free_stream_is_claimed_and_a_held_one_is_not():
    first, second = streams(2)
    assert leases.claim("a", [first], ttl=30, limit=10) == {first}
    assert leases.claim("b", [first, second], ttl=30, limit=10) == {second}
    assert StreamStatus.objects.get(pk=first).worker == "a"


@pytest.mark.django_db
def test_an_expired_lease_can_be_taken():
    (stream,) = streams(1)
    leases.claim("a", [stream], ttl=30, limit=1)
    StreamStatus.objects.filter(pk=stream).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert leases.claim("b", [stream], ttl=30, limit=1) == {stream}


@pytest.mark.django_db
def test_claiming_renews_the_leases_held():
    (stream,) = streams(1)
    leases.claim("a", [stream], ttl=5, limit=1)
    first = StreamStatus.objects.get(pk=stream).lease_expires_at
    leases.claim("a", [stream], ttl=60, limit=1)
    assert StreamStatus.objects.get(pk=stream).lease_expires_at > first + timedelta(seconds=30)


@pytest.mark.django_db
def test_workers_share_the_streams_fairly():
    ids = streams(5)
    assert leases.heartbeat("a", ttl=30) == 1
    assert leases.heartbeat("b", ttl=30) == 2
    share = leases.fair_share(len(ids), 2)
    assert share == 3
    assert len(leases.claim("a", ids, ttl=30, limit=share)) == 3
    assert len(leases.claim("b", ids, ttl=30, limit=share)) == 2


@pytest.mark.django_db
def test_a_stale_heartbeat_does_not_count():
    WorkerHeartbeat.objects.create(worker="gone", seen_at=timezone.now() - timedelta(minutes=5))
    assert leases.heartbeat("a", ttl=30) == 1


@pytest.mark.django_db
def test_retiring_releases_everything_at_once():
    ids = streams(2)
    leases.heartbeat("a", ttl=30)
    leases.claim("a", ids, ttl=30, limit=2)
    leases.retire("a")
    assert set(StreamStatus.objects.values_list("worker", flat=True)) == {""}
    assert leases.claim("b", ids, ttl=30, limit=2) == set(ids)


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(900)  # a guard against a hang: its waits are bounded above 120 s
async def test_two_workers_split_the_streams_and_one_takes_over_when_the_other_stops():
    simulator, url = await start_simulator()
    ids = await database_sync_to_async(streams)(2, url)
    # Leases long enough that a reconcile slowed by a loaded host does not let them lapse
    # (a lapsed heartbeat makes a worker think it is alone and take every stream back).
    first = StreamWorkerProcess(worker_id="first", reconcile_seconds=0.5, lease_seconds=15)
    second = StreamWorkerProcess(worker_id="second", reconcile_seconds=0.5, lease_seconds=15)
    first_task = asyncio.create_task(first.run())
    second_task = asyncio.create_task(second.run())

    @database_sync_to_async
    def owners():
        return dict(StreamStatus.objects.filter(pk__in=ids).values_list("pk", "worker"))

    async def split():
        return sorted((await owners()).values()) == ["first", "second"]

    await eventually(split, within=180, what="one stream each")
    await eventually(lambda: len(simulator.connections) == 2, within=180, what="two sockets")

    second.stop()
    await asyncio.wait_for(second_task, 180)
    await eventually(lambda: _all_owned_by(owners, "first"), within=180, what="takeover")
    await eventually(lambda: _all_connected(ids), within=180, what="both streams connected again")

    first.stop()
    await asyncio.wait_for(first_task, 180)
    assert set((await owners()).values()) == {""}, "a stopped worker holds nothing"
    await simulator.stop()


async def _all_owned_by(owners, worker):
    return set((await owners()).values()) == {worker}


@database_sync_to_async
def _all_connected(ids):
    return set(StreamStatus.objects.filter(pk__in=ids).values_list("state", flat=True)) == {
        "connected"
    }
