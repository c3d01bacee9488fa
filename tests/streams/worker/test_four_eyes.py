"""Under four-eyes the stream worker keeps the configuration it has until a second admin
accepts a change: a stream test against the simulator."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import Group

from streams.config import changes
from streams.models import Insight
from streams.worker.process import StreamWorkerProcess
from tests.factories import make_connection, make_matrix, make_stream
from tests.simulator import eventually, start_simulator, stopped, stream_status

pytestmark = pytest.mark.django_db(transaction=True)
FLAG = {"insight_type": "compliance_flag", "confidence": 0.9}


@pytest.fixture
async def sim():
    await get_channel_layer().flush()
    simulator, url = await start_simulator()
    yield simulator, url
    await simulator.stop()


@pytest.fixture
async def worker():
    process = StreamWorkerProcess(worker_id="test-worker", reconcile_seconds=60, lease_seconds=600)
    task = asyncio.create_task(process.run())
    yield process
    process.stop()
    await stopped(task)


@database_sync_to_async
def setup(url, django_user_model):
    matrix = make_matrix(name="flags", rules=[("compliance_flag", 0.0, 1.0, 1.0)])
    stream = make_stream(connection=make_connection(url=url), matrix=matrix, enabled=True)
    admins = []
    for name in ("adam", "ada"):
        user = django_user_model.objects.create_user(username=name, password="pw")
        user.groups.add(Group.objects.get(name="Governance admins"))
        admins.append(user)
    return stream, matrix, admins


@database_sync_to_async
def propose_auto_approve(matrix, author):
    before = matrix.audit_snapshot()
    after = {**before, "rules": [{**before["rules"][0], "auto_approve_at": 0.5}]}
    entry = changes.change_entry(matrix, before, after)
    return changes.change_request_create(kind="change", changes=[entry], author=author)


@database_sync_to_async
def statuses(stream):
    rows = Insight.objects.filter(stream=stream).order_by("pk")
    return list(rows.values_list("review_status", flat=True))


async def test_the_worker_keeps_the_old_matrix_until_a_second_admin_accepts(
    sim, worker, django_user_model, settings
):
    settings.FOUR_EYES = True
    simulator, url = sim
    stream, matrix, (author, second) = await setup(url, django_user_model)
    worker.supervisor.nudge()
    await eventually(lambda: _connected(stream), what="the stream connected")

    change_request = await propose_auto_approve(matrix, author)
    worker.supervisor.nudge()
    simulator.emit(20, FLAG)
    await eventually(lambda: _count(stream, 20), what="20 insights stored")
    assert set(await statuses(stream)) == {"pending"}  # the old matrix: no auto-approval

    await database_sync_to_async(changes.change_request_accept)(
        change_request=change_request, by=second
    )
    worker.supervisor.nudge()

    async def approved_by_the_rule():
        simulator.emit(1, FLAG)
        return "approved" in await statuses(stream)

    await eventually(approved_by_the_rule, what="an insight approved by the accepted rule")
    first_twenty = (await statuses(stream))[:20]
    assert set(first_twenty) == {"pending"}


async def _connected(stream):
    return (await stream_status(stream)).state == "connected"


async def _count(stream, n):
    return len(await statuses(stream)) >= n
