import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError

from streams.models import ConfidenceRule, GenesysConnection, StreamFilter
from tests.factories import make_connection, make_insight, make_matrix, make_stream

pytestmark = pytest.mark.django_db


def test_it_encrypts_the_client_secret_at_rest():
    connection = make_connection(secret="very-secret")
    stored = GenesysConnection.objects.values_list("client_secret_encrypted", flat=True).get()
    assert "very-secret" not in stored
    assert GenesysConnection.objects.get(pk=connection.pk).client_secret() == "very-secret"


def test_it_reads_the_secret_from_the_named_environment_variable(monkeypatch):
    connection = make_connection(secret=None, client_secret_env="GENESYS_TEST_SECRET")
    monkeypatch.setenv("GENESYS_TEST_SECRET", "from-env")
    assert connection.client_secret() == "from-env"
    monkeypatch.delenv("GENESYS_TEST_SECRET")
    with pytest.raises(ValueError, match=r"GENESYS_TEST_SECRET .* is not set"):
        connection.client_secret()


def test_a_changed_encryption_key_is_explained(settings):
    connection = make_connection(secret="s")
    settings.FIELD_ENCRYPTION_KEYS = ["Jf3mC1RvgHk7Dnaw0sK6m7dL3E4cIQn5l9H2yq8pJXk="]
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEY"):
        connection.client_secret()


def test_old_keys_still_decrypt_after_rotation(settings):
    connection = make_connection(secret="s")
    settings.FIELD_ENCRYPTION_KEYS = [
        "Jf3mC1RvgHk7Dnaw0sK6m7dL3E4cIQn5l9H2yq8pJXk=",
        *settings.FIELD_ENCRYPTION_KEYS,
    ]
    assert connection.client_secret() == "s"


def test_a_connection_needs_a_region_or_custom_urls():
    connection = GenesysConnection(name="c", client_id="id", client_secret_env="GENESYS_X")
    with pytest.raises(ValidationError, match="Choose a region"):
        connection.full_clean()
    connection.api_base_url = "https://gateway.example.test"
    with pytest.raises(ValidationError, match="Give both custom base URLs"):
        connection.full_clean()


def test_a_region_gives_the_api_and_login_hosts():
    connection = GenesysConnection(
        name="c", region="mypurecloud.ie", client_id="id", client_secret_env="GENESYS_X"
    )
    connection.full_clean()
    assert connection.api_url == "https://api.mypurecloud.ie"
    assert connection.token_url == "https://login.mypurecloud.ie/oauth/token"


def test_a_connection_needs_a_secret_from_somewhere():
    connection = GenesysConnection(name="c", region="mypurecloud.com", client_id="id")
    with pytest.raises(ValidationError, match="Give a client secret"):
        connection.full_clean()


def test_the_secret_fingerprint_changes_only_with_the_secret():
    connection = make_connection(secret="one")
    first = connection.secret_fingerprint()
    connection.save()
    assert connection.secret_fingerprint() == first
    connection.set_client_secret("two")
    assert connection.secret_fingerprint() != first
    assert "two" not in str(connection.audit_snapshot())


def test_a_rule_with_min_above_max_is_refused_in_words():
    rule = ConfidenceRule(
        matrix=make_matrix(), insight_type="sentiment_alert", min_confidence=0.9, max_confidence=0.8
    )
    with pytest.raises(ValidationError, match=r"min confidence 0\.9 is above max confidence 0\.8"):
        rule.full_clean()


@pytest.mark.parametrize(
    ("field", "value"), [("min_confidence", -0.1), ("max_confidence", 1.1), ("weight", -1)]
)
def test_a_rule_outside_its_bounds_is_refused(field, value):
    rule = ConfidenceRule(matrix=make_matrix(), insight_type="sentiment_alert", **{field: value})
    with pytest.raises(ValidationError) as caught:
        rule.full_clean()
    assert field in caught.value.message_dict


def test_the_database_refuses_an_inverted_range_too():
    with pytest.raises(IntegrityError):
        ConfidenceRule.objects.create(
            matrix=make_matrix(), insight_type="x", min_confidence=0.9, max_confidence=0.1
        )


def test_a_matrix_has_one_rule_per_type():
    matrix = make_matrix(rules=[("sentiment_alert", 0, 1, 1)])
    with pytest.raises(ValidationError):
        ConfidenceRule(matrix=matrix, insight_type="sentiment_alert").full_clean()


def test_a_stream_validates_its_lists():
    stream = make_stream()
    stream.interaction_ids = ["a", "a"]
    stream.insight_types = ["Not A Type"]
    with pytest.raises(ValidationError) as caught:
        stream.full_clean()
    assert "lists a value twice" in str(caught.value.message_dict["interaction_ids"])
    assert "lower-case" in str(caught.value.message_dict["insight_types"])


def test_a_stream_filter_on_an_unknown_attribute_is_refused():
    stream_filter = StreamFilter(
        stream=make_stream(), attribute="agent_id", operator="eq", value="x"
    )
    with pytest.raises(ValidationError) as caught:
        stream_filter.full_clean()
    assert "attribute" in caught.value.message_dict


def test_a_stream_filter_value_must_fit_its_operator():
    stream_filter = StreamFilter(
        stream=make_stream(), attribute="confidence", operator="gte", value="high"
    )
    with pytest.raises(ValidationError, match="needs a number"):
        stream_filter.full_clean()
    stream_filter.value = "0.4"
    stream_filter.full_clean()
    assert stream_filter.as_wire() == {"type": "gte", "attribute": "confidence", "value": 0.4}


def test_an_in_filter_takes_comma_separated_values():
    stream_filter = StreamFilter(
        stream=make_stream(), attribute="interaction_id", operator="in", value="a, b,c"
    )
    assert stream_filter.as_wire()["value"] == ["a", "b", "c"]


def test_a_new_stream_gets_a_status_row():
    stream = make_stream()
    assert stream.status.state == "stopped"


def test_auto_approve_must_lie_within_the_rules_range():
    rule = ConfidenceRule(
        matrix=make_matrix(),
        insight_type="compliance_flag",
        min_confidence=0.6,
        max_confidence=0.9,
        auto_approve_at=0.95,
    )
    with pytest.raises(
        ValidationError, match=r"auto-approve at 0\.95 is outside the rule's range 0\.6\.\.0\.9"
    ):
        rule.full_clean()


def test_a_misspelt_insight_type_is_refused_and_a_gateways_own_received_one_accepted():
    rule = ConfidenceRule(matrix=make_matrix(), insight_type="complaince_flag")
    with pytest.raises(ValidationError, match="complaince_flag: no insight of this type"):
        rule.full_clean()
    make_insight(insight_type="fraud_signal")  # a partner gateway's own type, received
    ConfidenceRule(matrix=make_matrix(), insight_type="fraud_signal").full_clean()
