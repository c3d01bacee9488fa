"""Four-eyes: configuration changes wait for a second governance admin."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from audit.trail.models import AuditEntry
from streams.config import changes, preview
from streams.models import ChangeRequest, ConfidenceMatrix, StreamConfig
from tests.factories import make_connection, make_insight, make_matrix, make_stream
from tests.streams.config.test_admin import matrix_form

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("four_eyes")]


def actions():
    people = AuditEntry.objects.exclude(action__startswith="security.")
    return list(people.order_by("id").values_list("action", flat=True))


def propose_rule_change(client, gov_admin, matrix):
    """The matrix's one rule gets an auto-approve threshold, through the admin's own form."""
    rule = matrix.rules.get()
    data = matrix_form(
        [(rule.insight_type, "0", "1", "1")],
        name=matrix.name,
        **{
            "rules-INITIAL_FORMS": "1",
            "rules-0-id": str(rule.pk),
            "rules-0-matrix": str(matrix.pk),
            "rules-0-auto_approve_at": "0.5",
        },
    )
    client.force_login(gov_admin)
    response = client.post(reverse("admin:streams_confidencematrix_change", args=[matrix.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    return ChangeRequest.objects.get()


def test_an_admin_change_becomes_a_request_and_changes_nothing(client, gov_admin):
    matrix = make_matrix(name="strict", rules=[("compliance_flag", 0.0, 1.0, 1.0)])
    change_request = propose_rule_change(client, gov_admin, matrix)
    assert change_request.status == ChangeRequest.Status.PENDING
    assert change_request.author == gov_admin
    assert matrix.rules.get().auto_approve_at is None
    [change] = change_request.changes
    assert change["label"] == "Confidence matrix strict"
    assert change["before"]["rules"][0]["auto_approve_at"] is None
    assert change["after"]["rules"][0]["auto_approve_at"] == 0.5
    assert actions() == ["change_request.request"]


def test_the_request_page_shows_the_difference_field_by_field(client, gov_admin, admin2):
    matrix = make_matrix(name="strict", rules=[("compliance_flag", 0.0, 1.0, 1.0)])
    change_request = propose_rule_change(client, gov_admin, matrix)
    client.force_login(admin2)
    page = client.get(
        reverse("admin:streams_changerequest_change", args=[change_request.pk])
    ).content.decode()
    assert "rules for compliance_flag: auto approve at" in page
    assert 'class="changed"' in page
    assert "Accept and apply" in page


def test_the_author_cannot_accept_their_own_request(client, gov_admin):
    matrix = make_matrix(name="strict", rules=[("compliance_flag", 0.0, 1.0, 1.0)])
    change_request = propose_rule_change(client, gov_admin, matrix)
    with pytest.raises(changes.ChangeRefused, match="second governance admin"):
        changes.change_request_accept(change_request=change_request, by=gov_admin)
    page = client.get(
        reverse("admin:streams_changerequest_change", args=[change_request.pk])
    ).content.decode()
    assert "Accept and apply" not in page
    assert "Withdraw" in page
    assert matrix.rules.get().auto_approve_at is None


def test_a_second_admin_accepts_and_the_change_is_applied(client, gov_admin, admin2):
    matrix = make_matrix(name="strict", rules=[("compliance_flag", 0.0, 1.0, 1.0)])
    change_request = propose_rule_change(client, gov_admin, matrix)
    client.force_login(admin2)
    client.post(
        reverse("admin:streams_changerequest_decide", args=[change_request.pk]),
        {"decision": "accept", "comment": "checked against the calibration"},
    )
    change_request.refresh_from_db()
    assert (change_request.status, change_request.decided_by) == ("accepted", admin2)
    assert matrix.rules.get().auto_approve_at == 0.5
    assert actions() == [
        "change_request.request",
        "confidence_matrix.update",
        "change_request.accept",
    ]
    applied = AuditEntry.objects.get(action="confidence_matrix.update")
    assert applied.actor == admin2


def test_an_expired_request_changes_nothing(client, gov_admin, admin2):
    matrix = make_matrix(name="strict", rules=[("compliance_flag", 0.0, 1.0, 1.0)])
    change_request = propose_rule_change(client, gov_admin, matrix)
    ChangeRequest.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(changes.ChangeRefused, match="expired"):
        changes.change_request_accept(change_request=change_request, by=admin2)
    change_request.refresh_from_db()
    assert change_request.status == ChangeRequest.Status.EXPIRED
    assert matrix.rules.get().auto_approve_at is None
    assert actions() == ["change_request.request", "change_request.expire"]


def test_a_request_made_from_an_older_configuration_is_refused(client, gov_admin, admin2):
    matrix = make_matrix(name="strict", rules=[("compliance_flag", 0.0, 1.0, 1.0)])
    change_request = propose_rule_change(client, gov_admin, matrix)
    ConfidenceMatrix.objects.filter(pk=matrix.pk).update(default_weight=0.9)
    with pytest.raises(changes.ChangeRefused, match="has been changed since"):
        changes.change_request_accept(change_request=change_request, by=admin2)
    assert matrix.rules.get().auto_approve_at is None


def test_a_request_is_stale_when_a_setting_it_depends_on_changed(gov_admin, admin2):
    matrix = make_matrix(name="strict", rules=[("compliance_flag", 0.0, 1.0, 1.0)])
    stream = make_stream(matrix=matrix)
    change_request = changes.stream_start_request(
        streams=StreamConfig.objects.filter(pk=stream.pk), by=gov_admin
    )
    matrix.rules.update(min_confidence=0.5)  # the matrix the stream would start with
    with pytest.raises(changes.ChangeRefused, match="with confidence matrix strict as it was then"):
        changes.change_request_accept(change_request=change_request, by=admin2)
    assert not StreamConfig.objects.get(pk=stream.pk).enabled


def test_declining_needs_a_comment_and_the_author_may_withdraw(client, gov_admin, admin2):
    matrix = make_matrix(name="strict", rules=[("compliance_flag", 0.0, 1.0, 1.0)])
    change_request = propose_rule_change(client, gov_admin, matrix)
    with pytest.raises(ValidationError, match="Say why"):
        changes.change_request_decline(change_request=change_request, by=admin2, comment="")
    changes.change_request_decline(change_request=change_request, by=gov_admin, comment="")
    change_request.refresh_from_db()
    assert change_request.status == ChangeRequest.Status.WITHDRAWN
    assert actions()[-1] == "change_request.withdraw"


def test_creating_and_deleting_are_requests_too(client, gov_admin, admin2):
    client.force_login(gov_admin)
    client.post(
        reverse("admin:streams_confidencematrix_add"),
        matrix_form([("sentiment_alert", "0.5", "1", "0.8")], name="new-one"),
    )
    assert not ConfidenceMatrix.objects.filter(name="new-one").exists()
    created = ChangeRequest.objects.get(kind="create")
    changes.change_request_accept(change_request=created, by=admin2)
    matrix = ConfidenceMatrix.objects.get(name="new-one")
    assert matrix.rules.get().min_confidence == 0.5

    client.post(reverse("admin:streams_confidencematrix_delete", args=[matrix.pk]), {"post": "yes"})
    assert ConfidenceMatrix.objects.filter(name="new-one").exists()
    deleted = ChangeRequest.objects.get(kind="delete")
    changes.change_request_accept(change_request=deleted, by=admin2)
    assert not ConfidenceMatrix.objects.filter(name="new-one").exists()


def test_a_form_with_errors_is_no_request(client, gov_admin):
    client.force_login(gov_admin)
    response = client.post(
        reverse("admin:streams_confidencematrix_add"),
        matrix_form([("sentiment_alert", "0.9", "0.8", "1")]),
    )
    assert b"min confidence 0.9 is above max confidence 0.8" in response.content
    assert not ChangeRequest.objects.exists()


def test_starting_waits_and_stopping_is_immediate_and_marked(client, gov_admin, admin2):
    stream = make_stream()
    client.force_login(gov_admin)
    changelist = reverse("admin:streams_streamconfig_changelist")
    client.post(changelist, {"action": "start_streams", "_selected_action": [stream.pk]})
    stream.refresh_from_db()
    assert not stream.enabled
    changes.change_request_accept(change_request=ChangeRequest.objects.get(), by=admin2)
    stream.refresh_from_db()
    assert stream.enabled
    client.post(changelist, {"action": "stop_streams", "_selected_action": [stream.pk]})
    stream.refresh_from_db()
    assert not stream.enabled
    assert actions()[-1] == "stream.emergency_stop"


def test_an_import_is_one_request(tmp_path, gov_admin, admin2, capsys):
    connection = make_connection(name="prod")
    make_matrix(name="m1")
    make_matrix(name="m3", default_weight=0.3)
    document = {
        "version": 1,
        "confidence_matrices": [
            {"name": "m1", "default_weight": 0.7},
            {"name": "m2", "default_weight": 0.4},
            {"name": "m3", "default_weight": 0.3},  # as it is: not part of the request
        ],
        "streams": [{"name": "s1", "connection": connection.name, "confidence_matrix": "m2"}],
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(document))
    with pytest.raises(CommandError, match="Give --as USERNAME"):
        call_command("import_config", str(path))
    with pytest.raises(CommandError, match="not an active governance admin"):
        call_command("import_config", str(path), author="nobody")
    call_command("import_config", str(path), author=gov_admin.username)
    assert "Change request" in capsys.readouterr().out
    assert not StreamConfig.objects.exists()
    assert ConfidenceMatrix.objects.get(name="m1").default_weight == 0.5
    change_request = ChangeRequest.objects.get()
    assert change_request.kind == "import"
    assert [change["label"] for change in change_request.changes] == [
        "Confidence matrix m1",
        "Confidence matrix m2",
        "Stream s1",
    ]
    assert change_request.author == gov_admin
    with pytest.raises(changes.ChangeRefused, match="You made this request"):
        changes.change_request_accept(change_request=change_request, by=gov_admin)
    # Meanwhile another accepted change sets m3 otherwise: accepting the import keeps it.
    ConfidenceMatrix.objects.filter(name="m3").update(default_weight=0.9)
    changes.change_request_accept(change_request=change_request, by=admin2)
    assert ConfidenceMatrix.objects.get(name="m1").default_weight == 0.7
    assert StreamConfig.objects.get(name="s1").confidence_matrix.name == "m2"
    assert ConfidenceMatrix.objects.get(name="m3").default_weight == 0.9


def test_an_import_with_a_plain_secret_is_refused_under_four_eyes():
    document = {
        "version": 1,
        "connections": [
            {"name": "c", "flavour": "seed", "client_id": "x", "client_secret": "plain"}
        ],
    }
    with pytest.raises(ValidationError, match="client_secret_env"):
        changes.change_request_for_import(document, author=None, source="test")
    assert not ChangeRequest.objects.exists()


def test_an_import_with_errors_is_refused_at_once():
    from streams.config.documents import ConfigImportError

    document = {
        "version": 1,
        "streams": [{"name": "s", "connection": "nope", "confidence_matrix": "x"}],
    }
    with pytest.raises(ConfigImportError):
        changes.change_request_for_import(document, author=None, source="test")
    assert not ChangeRequest.objects.exists()


def test_without_four_eyes_a_save_applies_at_once(settings, client, gov_admin):
    settings.FOUR_EYES = False
    client.force_login(gov_admin)
    client.post(
        reverse("admin:streams_confidencematrix_add"),
        matrix_form([("sentiment_alert", "0.5", "1", "0.8")], name="direct"),
    )
    assert ConfidenceMatrix.objects.filter(name="direct").exists()
    assert not ChangeRequest.objects.exists()


def test_a_new_webhook_endpoint_waits_and_its_secret_is_shown_once_to_its_author(
    client, gov_admin, admin2
):
    from streams.models import WebhookEndpoint

    client.force_login(gov_admin)
    response = client.post(
        reverse("admin:streams_webhookendpoint_add"),
        {
            "name": "trainer",
            "url": "https://trainer.test/hook",
            "events": ["insight.created"],
            "enabled": "on",
        },
    )
    secret = response.context["value"]
    change_request = ChangeRequest.objects.get()
    assert reverse("admin:streams_changerequest_change", args=[change_request.pk]) in (
        response.content.decode()
    )
    assert not WebhookEndpoint.objects.exists()
    requested = AuditEntry.objects.get(action="change_request.request")
    assert "secret_encrypted" not in json.dumps(requested.after)
    changes.change_request_accept(change_request=change_request, by=admin2)
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.url, endpoint.events, endpoint.enabled) == (
        "https://trainer.test/hook",
        ["insight.created"],
        True,
    )
    assert endpoint.secret() == secret


def test_a_webhook_endpoints_new_address_waits_for_a_second_admin(client, gov_admin, admin2):
    from streams.models import WebhookEndpoint

    endpoint = WebhookEndpoint(name="lms", url="https://lms.test/hook", events=["insight.created"])
    endpoint.set_secret("kept-secret")
    endpoint.save()
    client.force_login(gov_admin)
    client.post(
        reverse("admin:streams_webhookendpoint_change", args=[endpoint.pk]),
        {"name": "lms", "url": "https://elsewhere.test/hook", "events": ["insight.created"]},
    )
    endpoint.refresh_from_db()
    assert endpoint.url == "https://lms.test/hook"
    [change] = ChangeRequest.objects.get().changes
    assert (change["before"]["url"], change["after"]["url"]) == (
        "https://lms.test/hook",
        "https://elsewhere.test/hook",
    )
    changes.change_request_accept(change_request=ChangeRequest.objects.get(), by=admin2)
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.enabled, endpoint.secret()) == (
        "https://elsewhere.test/hook",
        False,
        "kept-secret",
    )


def test_a_matrix_change_says_what_it_would_have_done_to_the_last_weeks_items(
    client, gov_admin, admin2
):
    matrix = make_matrix(name="strict", rules=[("compliance_flag", 0.0, 1.0, 1.0)])
    stream = make_stream(matrix=matrix)
    for n in range(1, 11):  # confidences 0.1 .. 1.0
        make_insight(stream=stream, insight_type="compliance_flag", confidence=n / 10)
    make_insight(stream=stream, insight_type="sentiment_alert", confidence=0.1)  # untouched
    before = matrix.audit_snapshot()
    after = {
        **before,
        "rules": [{**before["rules"][0], "min_confidence": 0.3, "auto_approve_at": 0.95}],
    }
    [effect] = preview.matrix_change_effect(matrix.pk, before, after)
    assert effect == {
        "insight_type": "compliance_flag",
        "of": 10,
        "changed": {
            "would not have been stored": 2,  # 0.1 and 0.2
            "would have been approved automatically": 1,  # 1.0
        },
    }
    change_request = changes.change_request_create(
        kind="change",
        changes=[changes.change_entry(matrix, before, after)],
        author=gov_admin,
    )
    client.force_login(admin2)
    page = client.get(
        reverse("admin:streams_changerequest_change", args=[change_request.pk])
    ).content.decode()
    assert "Had it been in force over the last 7 days" in page
    assert "2 would not have been stored; 1 would have been approved automatically" in page


def test_a_connection_s_flavour_and_secret_wait_for_a_second_admin(client, gov_admin, admin2):
    from streams.models import GenesysConnection
    from tests.streams.config.test_admin import connection_form

    client.force_login(gov_admin)
    client.post(reverse("admin:streams_genesysconnection_add"), connection_form())
    assert not GenesysConnection.objects.exists()
    changes.change_request_accept(change_request=ChangeRequest.objects.get(), by=admin2)
    connection = GenesysConnection.objects.get()
    assert connection.client_secret() == "the-real-secret"

    client.post(
        reverse("admin:streams_genesysconnection_change", args=[connection.pk]),
        connection_form(flavour="notifications", new_client_secret="rotated-secret"),
    )
    change_request = ChangeRequest.objects.pending().get()
    connection.refresh_from_db()
    assert (connection.flavour, connection.client_secret()) == ("seed", "the-real-secret")
    stored = json.dumps(list(ChangeRequest.objects.values("changes", "document")))
    assert "rotated-secret" not in stored and "the-real-secret" not in stored
    assert "rotated-secret" not in json.dumps(list(AuditEntry.objects.values("before", "after")))
    with pytest.raises(changes.ChangeRefused, match="second governance admin"):
        changes.change_request_accept(change_request=change_request, by=gov_admin)
    changes.change_request_accept(change_request=change_request, by=admin2)
    connection.refresh_from_db()
    assert (connection.flavour, connection.client_secret()) == ("notifications", "rotated-secret")

    client.post(
        reverse("admin:streams_genesysconnection_change", args=[connection.pk]),
        connection_form(new_client_secret="", client_secret_env="GENESYS_SECRET"),
    )
    changes.change_request_accept(change_request=ChangeRequest.objects.pending().get(), by=admin2)
    connection.refresh_from_db()
    assert (connection.client_secret_env, connection.client_secret_encrypted) == (
        "GENESYS_SECRET",
        "",
    )


def test_a_new_api_token_works_only_once_a_second_admin_accepts(client, gov_admin, admin2):
    from streams.models import ApiToken

    client.force_login(gov_admin)
    response = client.post(reverse("admin:streams_apitoken_add"), {"name": "crm-desktop"})
    plaintext = response.context["value"]  # shown once, to its author, when proposed
    assert "works once a second governance admin accepts" in response.content.decode()
    assert ApiToken.authenticate(plaintext) is None
    change_request = ChangeRequest.objects.pending().get()
    trail = json.dumps(list(AuditEntry.objects.values("before", "after")))
    assert ApiToken.digest(plaintext) not in trail
    with pytest.raises(changes.ChangeRefused, match="second governance admin"):
        changes.change_request_accept(change_request=change_request, by=gov_admin)
    changes.change_request_accept(change_request=change_request, by=admin2)
    token = ApiToken.authenticate(plaintext)
    assert (token.name, token.created_by) == ("crm-desktop", gov_admin)
    # Revoking takes away access: one admin, at once.
    client.post(
        reverse("admin:streams_apitoken_changelist"),
        {"action": "revoke_selected", "_selected_action": [token.pk]},
    )
    assert ApiToken.authenticate(plaintext) is None
