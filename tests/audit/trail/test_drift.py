"""What changes in Genesys' own Agent Assist configuration is recorded in the trail, by
"Genesys", against the simulator (whose admin edits an assistant now and then)."""

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from audit.trail import drift
from audit.trail.models import AuditEntry
from streams.models import GenesysAssistants, GenesysConnection
from tests.factories import make_connection
from tests.simulator import start_simulator

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def sim():
    simulator, url = await start_simulator(interactions=4, queues=2)
    yield simulator, url
    await simulator.stop()


def entries():
    found = AuditEntry.objects.filter(action__startswith="genesys_assistant.").order_by("id")
    return list(found.values_list("action", "actor_label", "object_repr", "before", "after"))


async def test_each_change_in_genesys_is_an_entry_by_genesys(sim, client, gov_admin):
    simulator, url = sim
    connection = await sync_to_async(make_connection)(
        url=url, flavour=GenesysConnection.Flavour.NOTIFICATIONS
    )
    read = sync_to_async(drift.read_connection)
    assert await read(connection) == 1  # the first reading: a baseline
    [(action, actor, _, _, after)] = await sync_to_async(entries)()
    assert (action, actor) == ("genesys_assistant.baseline", "Genesys")
    assert len(after["assistants"]) == 2
    assert await read(connection) == 0  # nothing changed: nothing recorded

    simulator.inject({"action": "change_assistant"})  # answers switched off in Genesys
    assert await read(connection) == 1
    action, actor, about, before, after = (await sync_to_async(entries)())[-1]
    assert (action, actor) == ("genesys_assistant.change", "Genesys")
    assert about == f"Retail banking assistant (connection {connection.name})"
    assert before["copilot"]["knowledgeAnswerConfig"]["enabled"] is True
    assert after["copilot"]["knowledgeAnswerConfig"]["enabled"] is False

    for _ in range(8):  # through summaries, search mode, live on queue, to a queue moved
        simulator.inject({"action": "change_assistant"})
    assert await read(connection) == 2  # both assistants differ from the last reading
    moved = [e for e in await sync_to_async(entries)() if e[0] == "genesys_assistant.change"]
    assert any(len(e[3]["queues"]) != len(e[4]["queues"]) for e in moved)

    # The dashboard says what changed in Genesys.
    await sync_to_async(client.force_login)(gov_admin)
    page = (await sync_to_async(client.get)(reverse("dashboard"))).content.decode()
    assert 'id="changed-in-genesys"' in page and "Retail banking assistant" in page
    assert "copilot, knowledge answer config, enabled: yes to no" in page


async def test_a_missing_permission_is_kept_as_the_reading_s_problem(sim):
    simulator, url = sim
    simulator.inject({"action": "permissions", "missing": ["assistants:queue:view"]})
    connection = await sync_to_async(make_connection)(
        url=url, flavour=GenesysConnection.Flavour.NOTIFICATIONS
    )
    assert await sync_to_async(drift.read_connection)(connection) == 0
    reading = await sync_to_async(GenesysAssistants.objects.get)(connection=connection)
    assert "the OAuth client lacks assistants:assistant:view" in reading.problem
    assert "assistants:queue:view" in reading.problem
    simulator.inject({"action": "permissions", "missing": []})
    assert await sync_to_async(drift.read_connection)(connection) == 1  # then a baseline
