"""An admin picks the queues and agents a stream follows by name, from Genesys' own lists
(searchable), not by typing ids; an id Genesys no longer lists stays, said as such; when the
lists cannot be read, the ids are typed and the page says why."""

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from streams.models import GenesysConnection, StreamConfig
from streams.simulator.conversations import agent_ids, queue_ids
from tests.factories import make_connection, make_stream
from tests.simulator import start_simulator

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def sim():
    cache.clear()
    simulator, url = await start_simulator(interactions=4, queues=3, agents=4)
    yield simulator, url
    await simulator.stop()


@sync_to_async
def stream_page(url, admin, **fields):
    connection = make_connection(url=url, flavour=GenesysConnection.Flavour.NOTIFICATIONS)
    stream = make_stream(connection=connection, **fields)
    client = Client()
    client.force_login(admin)
    path = reverse("admin:streams_streamconfig_change", args=[stream.pk])
    return client, path, client.get(path)


async def test_queues_and_agents_are_chosen_by_name(sim, gov_admin, settings):
    settings.FOUR_EYES = False
    _, url = sim
    client, path, page = await stream_page(url, gov_admin, queue_ids=[queue_ids(3)[0], "gone-q"])
    html = page.content.decode()
    assert page.status_code == 200
    # Searchable lists of names (Django's filtered select), the ids as the options' values.
    assert 'class="selectfilter"' in html and 'data-field-name="agents"' in html
    assert f'<option value="{queue_ids(3)[1]}">Card services</option>' in html
    assert f'<option value="{agent_ids(4)[0]}">Ada Osei</option>' in html
    assert f'value="{queue_ids(3)[0]}" selected>Billing</option>' in html
    assert "gone-q (not listed by Genesys)" in html

    @sync_to_async
    def save():
        form = page.context["adminform"].form
        data = {k: v for k, v in form.initial.items() if v is not None and k != "queue_ids"}
        data.update(
            connection=form.initial["connection"],
            confidence_matrix=form.initial["confidence_matrix"],
            queue_ids=[queue_ids(3)[2]],
            user_ids=[agent_ids(4)[1], agent_ids(4)[3]],
            interaction_ids="",
            insight_types="",
            **{
                "filters-TOTAL_FORMS": "0",
                "filters-INITIAL_FORMS": "0",
                "_save": "Save",
            },
        )
        data.pop("enabled", None)
        response = client.post(path, data)
        assert response.status_code == 302, response.context["adminform"].form.errors
        return StreamConfig.objects.get(pk=page.context["original"].pk)

    stream = await save()
    assert stream.queue_ids == [queue_ids(3)[2]]
    assert stream.user_ids == [agent_ids(4)[1], agent_ids(4)[3]]


async def test_when_the_lists_cannot_be_read_the_ids_are_typed_and_the_reason_said(sim, gov_admin):
    simulator, url = sim
    simulator.inject({"action": "permissions", "missing": ["directory:user:view"]})
    _, _, page = await stream_page(url, gov_admin, user_ids=["u-1"])
    html = page.content.decode()
    assert 'data-field-name="queues"' in html  # queues still by name
    assert '<textarea name="user_ids"' in html
    assert "Names cannot be listed from" in html and "directory:user:view" in html
