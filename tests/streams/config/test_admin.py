import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.urls import reverse

from audit.trail.models import AuditEntry
from streams.models import ConfidenceMatrix, GenesysConnection, StreamConfig
from streams.worker.consumer import STREAMS_CHANNEL
from tests.factories import make_connection, make_matrix, make_stream

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, gov_admin):
    client.force_login(gov_admin)
    return client


def connection_form(**overrides):
    return {
        "name": "prod-eu",
        "flavour": "seed",
        "region": "mypurecloud.ie",
        "api_base_url": "",
        "login_base_url": "",
        "client_id": "client-1",
        "new_client_secret": "the-real-secret",
        "client_secret_env": "",
        **overrides,
    }


def test_a_new_secret_is_stored_encrypted_and_never_shown_again(admin_client):
    response = admin_client.post(reverse("admin:streams_genesysconnection_add"), connection_form())
    assert response.status_code == 302
    connection = GenesysConnection.objects.get()
    assert connection.client_secret() == "the-real-secret"
    page = admin_client.get(reverse("admin:streams_genesysconnection_change", args=[connection.pk]))
    assert b"the-real-secret" not in page.content
    assert b"stored (encrypted)" in page.content
    entry = AuditEntry.objects.get(action="genesys_connection.create")
    assert "the-real-secret" not in str(entry.after)
    assert entry.after["client_secret"].startswith("stored:")


def test_an_auditor_reads_a_connection_without_a_secret_field(admin_client, client, auditor):
    admin_client.post(reverse("admin:streams_genesysconnection_add"), connection_form())
    connection = GenesysConnection.objects.get()
    path = reverse("admin:streams_genesysconnection_change", args=[connection.pk])
    assert b"field-new_client_secret" in admin_client.get(path).content
    client.force_login(auditor)
    page = client.get(path)
    assert page.status_code == 200
    assert b"field-new_client_secret" not in page.content  # was "Client secret: None"
    assert b"stored (encrypted)" in page.content


def test_a_blank_secret_keeps_the_stored_one(admin_client):
    admin_client.post(reverse("admin:streams_genesysconnection_add"), connection_form())
    connection = GenesysConnection.objects.get()
    admin_client.post(
        reverse("admin:streams_genesysconnection_change", args=[connection.pk]),
        connection_form(new_client_secret="", client_id="client-2"),
    )
    connection.refresh_from_db()
    assert (connection.client_id, connection.client_secret()) == ("client-2", "the-real-secret")
    update = AuditEntry.objects.get(action="genesys_connection.update")
    assert update.before["client_id"] == "client-1"
    assert update.after["client_id"] == "client-2"
    assert update.before["client_secret"] == update.after["client_secret"]


def test_a_connection_without_any_secret_is_refused_with_a_hint(admin_client):
    response = admin_client.post(
        reverse("admin:streams_genesysconnection_add"), connection_form(new_client_secret="")
    )
    assert response.status_code == 200
    assert b"Give a client secret, or the name of the environment variable" in response.content
    assert not GenesysConnection.objects.exists()


def matrix_form(rules, **overrides):
    data = {
        "name": "strict",
        "description": "",
        "default_weight": "0.5",
        "no_confidence": "review",
        "rules-TOTAL_FORMS": str(len(rules)),
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
        **overrides,
    }
    for n, (insight_type, low, high, weight) in enumerate(rules):
        data.update(
            {
                f"rules-{n}-insight_type": insight_type,
                f"rules-{n}-min_confidence": low,
                f"rules-{n}-max_confidence": high,
                f"rules-{n}-weight": weight,
            }
        )
    return data


def test_a_matrix_rule_with_min_above_max_is_explained(admin_client):
    response = admin_client.post(
        reverse("admin:streams_confidencematrix_add"),
        matrix_form([("sentiment_alert", "0.9", "0.8", "1")]),
    )
    assert response.status_code == 200
    assert b"min confidence 0.9 is above max confidence 0.8" in response.content
    assert not ConfidenceMatrix.objects.exists()


def test_a_negative_weight_is_refused(admin_client):
    response = admin_client.post(
        reverse("admin:streams_confidencematrix_add"),
        matrix_form([("sentiment_alert", "0", "1", "-1")]),
    )
    assert response.status_code == 200
    assert not ConfidenceMatrix.objects.exists()


def test_a_matrix_change_is_audited_with_its_rules_before_and_after(admin_client):
    admin_client.post(
        reverse("admin:streams_confidencematrix_add"),
        matrix_form([("sentiment_alert", "0.5", "1", "0.8")]),
    )
    entry = AuditEntry.objects.get(action="confidence_matrix.create")
    assert entry.before is None
    assert entry.after["rules"] == [
        {
            "insight_type": "sentiment_alert",
            "min_confidence": 0.5,
            "max_confidence": 1.0,
            "weight": 0.8,
            "auto_approve_at": None,
            "auto_filter": False,
        }
    ]
    assert entry.actor.username == "adam"


def stream_form(connection, matrix, **overrides):
    return {
        "name": "eu-insights",
        "connection": connection.pk,
        "confidence_matrix": matrix.pk,
        "interaction_ids": "interaction-1\ninteraction-2, interaction-3",
        "insight_types": "sentiment_alert",
        "enabled": "on",
        "filters-TOTAL_FORMS": "0",
        "filters-INITIAL_FORMS": "0",
        "filters-MIN_NUM_FORMS": "0",
        "filters-MAX_NUM_FORMS": "1000",
        **overrides,
    }


async def next_nudge(within=15.0):
    try:
        return await asyncio.wait_for(get_channel_layer().receive(STREAMS_CHANNEL), within)
    except TimeoutError:
        return None


def test_saving_a_stream_nudges_the_worker_after_commit(
    admin_client, django_capture_on_commit_callbacks
):
    async_to_sync(get_channel_layer().flush)()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(
            reverse("admin:streams_streamconfig_add"), stream_form(make_connection(), make_matrix())
        )
    assert response.status_code == 302
    assert async_to_sync(next_nudge)(within=0.2) is None, "nothing is sent before commit"
    for callback in callbacks:
        callback()
    assert async_to_sync(next_nudge)() == {"type": "streams.reconcile"}
    stream = StreamConfig.objects.get()
    assert stream.interaction_ids == ["interaction-1", "interaction-2", "interaction-3"]
    assert stream.insight_types == ["sentiment_alert"]


def test_a_stream_filter_on_an_unknown_attribute_is_refused_in_the_admin(admin_client):
    data = stream_form(
        make_connection(),
        make_matrix(),
        **{
            "filters-TOTAL_FORMS": "1",
            "filters-0-attribute": "agent_id",
            "filters-0-operator": "eq",
            "filters-0-value": "x",
        },
    )
    response = admin_client.post(reverse("admin:streams_streamconfig_add"), data)
    assert response.status_code == 200
    assert b"Select a valid choice" in response.content
    assert not StreamConfig.objects.exists()


def test_the_stream_page_shows_the_subscription_it_sends(admin_client):
    stream = make_stream(
        insight_types=["sentiment_alert"],
        matrix=make_matrix(rules=[("sentiment_alert", 0.6, 0.9, 1)]),
    )
    page = admin_client.get(
        reverse("admin:streams_streamconfig_change", args=[stream.pk])
    ).content.decode()
    assert "&quot;min_confidence&quot;: 0.6" in page
    assert f"assistgov-{stream.name}" in page


def test_start_and_stop_actions_are_audited(admin_client):
    stream = make_stream()
    changelist = reverse("admin:streams_streamconfig_changelist")
    admin_client.post(changelist, {"action": "start_streams", "_selected_action": [stream.pk]})
    stream.refresh_from_db()
    assert stream.enabled
    admin_client.post(changelist, {"action": "stop_streams", "_selected_action": [stream.pk]})
    stream.refresh_from_db()
    assert not stream.enabled
    people = AuditEntry.objects.exclude(action__startswith="security.")  # the sign-in
    actions = list(people.order_by("id").values_list("action", flat=True))
    assert actions == ["stream.start", "stream.stop"]


def test_the_stream_list_shows_each_streams_state(admin_client):
    stream = make_stream()
    stream.status.state = "error"
    stream.status.detail = "subscription refused"
    stream.status.save()
    page = admin_client.get(reverse("admin:streams_streamconfig_changelist")).content.decode()
    assert ">error</strong>" in page


def test_officers_cannot_edit_configuration(client, officer):
    client.force_login(officer)
    assert client.get(reverse("admin:streams_genesysconnection_changelist")).status_code == 403
    assert client.get(reverse("admin:streams_confidencematrix_add")).status_code == 403
    stream = make_stream()
    assert (
        client.post(reverse("admin:streams_streamconfig_change", args=[stream.pk]), {}).status_code
        == 403
    )


def test_an_unchanged_save_writes_no_audit_entry(admin_client):
    connection, matrix = make_connection(), make_matrix()
    admin_client.post(reverse("admin:streams_streamconfig_add"), stream_form(connection, matrix))
    stream = StreamConfig.objects.get()
    admin_client.post(
        reverse("admin:streams_streamconfig_change", args=[stream.pk]),
        stream_form(connection, matrix),
    )
    people = AuditEntry.objects.exclude(action__startswith="security.")  # the sign-in
    assert list(people.values_list("action", flat=True)) == ["stream.create"]


def knowledge_form(connection, **overrides):
    return {
        "name": "desk-knowledge",
        "connection": connection.pk,
        "enabled": "on",
        "confidence_threshold": "0.7",
        "freshness_days": "90",
        "max_results": "5",
        "language": "en-US",
        "max_in_flight": "5",
        "query_timeout_seconds": "15",
        "cache_ttl_seconds": "300",
        "auto_query_types": "",
        "source_links-TOTAL_FORMS": "0",
        "source_links-INITIAL_FORMS": "0",
        **overrides,
    }


def test_an_admin_chooses_the_insight_types_searched_automatically(admin_client):
    from streams.models import KnowledgeStream

    connection = make_connection()
    url = reverse("admin:streams_knowledgestream_add")
    response = admin_client.post(
        url,
        knowledge_form(connection, auto_query_types="compliance_flag\nknowledge_recommendation"),
    )
    assert response.status_code == 302
    stream = KnowledgeStream.objects.get()
    assert stream.auto_query_types == ["compliance_flag", "knowledge_recommendation"]
    entry = AuditEntry.objects.get(action="knowledge_stream.create")
    assert entry.after["auto_query_types"] == ["compliance_flag", "knowledge_recommendation"]

    refused = admin_client.post(
        url, knowledge_form(connection, name="other", auto_query_types="Not A Type")
    )
    assert refused.status_code == 200
    assert "An insight type is lower-case letters" in refused.content.decode()
