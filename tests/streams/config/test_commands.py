import json

import pytest
from django.core.management import CommandError, call_command

from audit.trail.models import AuditEntry
from streams.management.commands.demo_setup import demo_document
from streams.models import ConfidenceMatrix, GenesysConnection, KnowledgeStream, StreamConfig

pytestmark = pytest.mark.django_db


def write(tmp_path, document):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(document))
    return str(path)


def document(**changes):
    base = demo_document("http://127.0.0.1:8001", "client", "secret")
    base.update(changes)
    return base


def test_import_creates_everything_and_audits_it(tmp_path, capsys):
    call_command("import_config", write(tmp_path, document()))
    assert "7 created" in capsys.readouterr().out
    stream = StreamConfig.objects.get()
    assert stream.enabled
    assert (
        stream.confidence_matrix.rules.count()
        == len(document()["confidence_matrices"][0]["rules"])
        == 5
    )
    assert GenesysConnection.objects.get().client_secret() == "secret"
    assert set(AuditEntry.objects.values_list("action", "actor_label")) == {
        ("genesys_connection.create", "import_config"),
        ("confidence_matrix.create", "import_config"),
        ("stream.create", "import_config"),
        ("knowledge_source.create", "import_config"),
        ("knowledge_stream.create", "import_config"),
    }
    knowledge = KnowledgeStream.objects.get()
    assert knowledge.priorities() == {"kb-1": 1, "kb-2": 2, "kb-3": 3}
    assert knowledge.confidence_threshold == 0.6


def test_import_is_idempotent(tmp_path, capsys):
    path = write(tmp_path, document())
    call_command("import_config", path)
    call_command("import_config", path)
    assert "0 created, 0 updated, 7 unchanged" in capsys.readouterr().out
    assert AuditEntry.objects.count() == 7


def test_import_updates_by_name(tmp_path):
    call_command("import_config", write(tmp_path, document()))
    changed = document()
    changed["confidence_matrices"][0]["rules"] = [
        {"insight_type": "sentiment_alert", "min_confidence": 0.7}
    ]
    call_command("import_config", write(tmp_path, changed))
    matrix = ConfidenceMatrix.objects.get()
    assert list(matrix.rules.values_list("insight_type", "min_confidence")) == [
        ("sentiment_alert", 0.7)
    ]
    entry = AuditEntry.objects.get(action="confidence_matrix.update")
    assert len(entry.before["rules"]) == 5
    assert len(entry.after["rules"]) == 1


def test_import_validates_as_the_admin_does_and_changes_nothing_on_error(tmp_path):
    bad = document()
    bad["confidence_matrices"][0]["rules"][0].update(min_confidence=0.9, max_confidence=0.8)
    bad["streams"][0]["filters"] = [{"attribute": "agent_id", "operator": "eq", "value": "x"}]
    with pytest.raises(CommandError) as caught:
        call_command("import_config", write(tmp_path, bad))
    message = str(caught.value)
    assert (
        "confidence_matrices[default]: rule knowledge_recommendation: min_confidence: "
        "min confidence 0.9 is above max confidence 0.8" in message
    )
    assert "streams[demo-insights]: confidence_matrix: 'default' has errors (see above)" in message
    assert not GenesysConnection.objects.exists()
    assert not AuditEntry.objects.exists()


def test_import_refuses_an_unknown_filter_attribute(tmp_path):
    bad = document()
    bad["streams"][0]["filters"] = [{"attribute": "agent_id", "operator": "eq", "value": "x"}]
    with pytest.raises(
        CommandError, match="streams\\[demo-insights\\]: filter agent_id eq x: attribute"
    ):
        call_command("import_config", write(tmp_path, bad))
    assert not StreamConfig.objects.exists()


def test_import_names_an_unknown_reference(tmp_path):
    bad = document()
    bad["streams"][0]["connection"] = "nope"
    with pytest.raises(
        CommandError,
        match="streams\\[demo-insights\\]: connection: no Genesys connection named 'nope'",
    ):
        call_command("import_config", write(tmp_path, bad))


def test_import_refuses_a_document_of_the_wrong_shape(tmp_path):
    with pytest.raises(CommandError, match=r"streams\.0\.enabeld: Extra inputs are not permitted"):
        call_command(
            "import_config",
            write(
                tmp_path,
                document(
                    streams=[
                        {"name": "s", "connection": "c", "confidence_matrix": "m", "enabeld": True}
                    ]
                ),
            ),
        )
    with pytest.raises(CommandError, match="version"):
        call_command("import_config", write(tmp_path, document(version=2)))


def test_import_refuses_a_file_that_is_not_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(CommandError, match="is not valid JSON"):
        call_command("import_config", str(path))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_config", str(tmp_path / "missing.json"))


def test_export_round_trips_without_secrets(tmp_path):
    call_command("import_config", write(tmp_path, document()))
    out = tmp_path / "export.json"
    call_command("export_config", "-o", str(out))
    exported = json.loads(out.read_text())
    assert "secret" not in json.dumps(exported["connections"]).replace("client_secret_env", "")
    assert exported["streams"][0]["insight_types"] == document()["streams"][0]["insight_types"]
    call_command("import_config", str(out))
    assert GenesysConnection.objects.get().client_secret() == "secret"


def test_demo_setup_creates_two_officers_two_admins_an_auditor_and_a_dpo(capsys, settings):
    settings.DEBUG = True
    call_command("demo_setup")
    output = capsys.readouterr().out
    assert "officer" in output and "auditor-demo-pass" in output
    from django.contrib.auth.models import User

    assert set(User.objects.values_list("username", "groups__name")) == {
        ("officer", "Compliance officers"),
        ("officer2", "Compliance officers"),
        ("admin", "Governance admins"),
        ("admin2", "Governance admins"),
        ("auditor", "Auditors"),
        ("dpo", "Data protection officers"),
    }
    call_command("demo_setup")
    assert User.objects.count() == 6


def test_a_second_demo_run_keeps_what_its_admins_changed(settings):
    from streams.models import ConfidenceMatrix

    settings.DEBUG = True
    call_command("demo_setup", "--simulator-url", "http://127.0.0.1:8001")
    matrix = ConfidenceMatrix.objects.get()
    matrix.rules.filter(insight_type="compliance_flag").update(min_confidence=0.3)
    call_command("demo_setup", "--simulator-url", "http://127.0.0.1:8201")
    assert matrix.rules.get(insight_type="compliance_flag").min_confidence == 0.3
    assert GenesysConnection.objects.get().api_base_url == "http://127.0.0.1:8201"


def test_demo_setup_refuses_to_run_in_production(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=true"):
        call_command("demo_setup")
