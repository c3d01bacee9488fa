"""Several `runstreams` processes against PostgreSQL and Redis: leases, SIGKILL, SIGTERM.

Run by `python -m tests.run_scaled` (part of `make test`); skipped elsewhere, with the
reason, except in CI where it must run.
"""

import signal
import time

import httpx
import pytest
from django.conf import settings
from django.db import connection

from streams.models import Insight, StreamStatus
from tests.conftest import need
from tests.factories import make_connection, make_matrix, make_stream
from tests.test_processes import Deployment, answers, free_port

pytestmark = [pytest.mark.scaled, pytest.mark.django_db(transaction=True)]
LEASE = 2.0


@pytest.fixture
def cluster(tmp_path):
    need(
        connection.vendor == "postgresql" and bool(settings.REDIS_URL),
        "needs PostgreSQL and Redis: run `python -m tests.run_scaled` (make test does)",
    )
    db = connection.settings_dict
    database_url = (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )
    with Deployment(
        tmp_path,
        DATABASE_URL=database_url,
        REDIS_URL=settings.REDIS_URL,
        # The workers decrypt the client secret this process stored.
        FIELD_ENCRYPTION_KEY=",".join(settings.FIELD_ENCRYPTION_KEYS),
        STREAMS_LEASE_SECONDS=str(LEASE),
        STREAMS_RECONCILE_SECONDS="0.3",
        STREAMS_BACKOFF_BASE_SECONDS="0.1",
        STREAMS_BACKOFF_CAP_SECONDS="1",
    ) as deployment:
        port = free_port()
        deployment.start("genesys_simulator", "--port", str(port), "--rate", "0")
        deployment.simulator = f"http://127.0.0.1:{port}"
        deployment.wait_for(lambda: answers(deployment.simulator + "/_sim/stats"), "the simulator")
        yield deployment


def emit(cluster, count):
    httpx.post(cluster.simulator + "/_sim/emit", json={"count": count}).raise_for_status()


def sent_ids(cluster) -> set[str]:
    return set(httpx.get(cluster.simulator + "/_sim/stats", params={"ids": "1"}).json()["sent_ids"])


def holder(stream) -> tuple[str, str]:
    status = StreamStatus.objects.get(pk=stream.pk)
    return status.worker, status.state


def stored(stream) -> list[str]:
    return list(Insight.objects.filter(stream=stream).values_list("external_id", flat=True))


def test_a_killed_workers_stream_is_taken_over_and_nothing_is_lost(cluster):
    stream = make_stream(
        connection=make_connection(url=cluster.simulator), matrix=make_matrix(), enabled=True
    )
    workers = {name: cluster.start("runstreams", "--worker-id", name) for name in ("w1", "w2")}
    cluster.wait_for(lambda: holder(stream)[1] == "connected", "a worker connects the stream")
    first, _ = holder(stream)
    emit(cluster, 100)
    cluster.wait_for(lambda: len(stored(stream)) == 100, "the first 100 insights")

    cluster.stop(workers[first], sig=signal.SIGKILL)
    killed_at = time.monotonic()
    emit(cluster, 100)  # while nobody holds the stream
    survivor = next(name for name in workers if name != first)
    cluster.wait_for(
        lambda: holder(stream) == (survivor, "connected"), "the takeover", within=10 * LEASE
    )
    took = time.monotonic() - killed_at
    print(f"takeover after SIGKILL: {took:.1f} s with a {LEASE:g} s lease")

    emit(cluster, 100)
    cluster.wait_for(lambda: len(stored(stream)) == 300, "all 300 insights")
    ids = stored(stream)
    assert len(ids) == len(set(ids)) == 300
    assert set(ids) == sent_ids(cluster)

    code, output = cluster.stop(workers[survivor])
    assert code == 0, output
    assert holder(stream) == ("", "stopped"), "SIGTERM releases the lease at once"


def test_two_workers_share_two_streams_and_sigterm_hands_over_at_once(cluster):
    connection_, matrix = make_connection(url=cluster.simulator), make_matrix()
    streams = [make_stream(connection=connection_, matrix=matrix, enabled=True) for _ in range(2)]
    workers = {name: cluster.start("runstreams", "--worker-id", name) for name in ("w1", "w2")}

    def owners():
        return sorted(holder(stream) for stream in streams)

    cluster.wait_for(
        lambda: owners() == [("w1", "connected"), ("w2", "connected")], "one stream each"
    )
    stopped_at = time.monotonic()
    code, output = cluster.stop(workers["w1"])
    assert code == 0, output
    cluster.wait_for(lambda: owners() == [("w2", "connected")] * 2, "w2 runs both")
    print(f"handover after SIGTERM: {time.monotonic() - stopped_at:.1f} s")
    emit(cluster, 50)
    cluster.wait_for(lambda: all(len(stored(s)) == 50 for s in streams), "both streams store")
