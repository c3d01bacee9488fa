"""Error pages: the app's frame, what happened in words, what to do; JSON stays JSON."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import path

from assistgov import errors
from assistgov.urls import urlpatterns as site_urls

pytestmark = pytest.mark.django_db


def fails(request):
    raise RuntimeError("boom")


urlpatterns = [*site_urls, path("fails/", fails)]
handler500 = "assistgov.errors.server_error"


def test_an_officer_opening_the_audit_trail_is_told_their_role_and_who_can_help(client, officer):
    client.force_login(officer)
    response = client.get("/audit/verify/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "Your role, Compliance officers, cannot open the audit trail." in page
    assert "Ask a governance admin" in page
    assert 'class="topbar"' in page and ">Review</a>" in page  # in the app's frame


def test_a_json_endpoint_answers_json_when_refused(client, outsider):
    client.force_login(outsider)
    response = client.get("/review/progress")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    message = response.json()["error"]["message"]
    assert message == "Your account has no role yet, so it cannot open the review queue."


def test_not_found_is_a_page_with_the_navigation(client, officer):
    client.force_login(officer)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "There is nothing at this address." in page and 'class="topbar"' in page
    json = client.get("/review/items/insight/999999999/")
    assert json.status_code == 404 and "error" in json.json()


@pytest.mark.urls(__name__)
def test_a_server_error_page_needs_no_database_and_says_what_to_do(officer):
    client = Client(raise_request_exception=False)
    client.force_login(officer)
    response = client.get("/fails/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong on our side" in page and "tell the operator" in page


def test_a_form_sent_without_its_csrf_token_is_refused_with_words(officer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(officer)
    response = client.post("/logout/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "was not accepted. Nothing was changed." in page and "reload the page" in page


@pytest.mark.parametrize(
    ("names", "superuser", "words"),
    [
        ([], False, "no role"),
        (["Auditors"], False, "Auditors"),
        (["Auditors", "Governance admins"], False, "Auditors and Governance admins"),
        (["Auditors"], True, "Auditors and superuser"),
    ],
)
def test_roles_read_as_words(django_user_model, names, superuser, words):
    user = django_user_model.objects.create_user("u", is_superuser=superuser)
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in names])
    assert errors.roles(user) == words


def test_a_refusal_is_one_log_line_without_a_stack_trace(client, officer, caplog):
    client.force_login(officer)
    with caplog.at_level("WARNING", logger="django.request"):
        assert client.get("/audit/verify/").status_code == 403
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == "Forbidden (Permission denied): /audit/verify/"
    assert record.exc_info is None and "Traceback" not in caplog.text


def test_a_method_a_page_does_not_take_is_the_app_s_page_or_json(client, officer):
    from django.urls import reverse

    client.force_login(officer)
    page = client.get("/second-review/1/decide")
    assert page.status_code == 405 and page["Allow"] == "POST"
    text = page.content.decode()
    assert "This address does not answer GET requests; it takes POST." in text
    assert "<h1>Not this way</h1>" in text and "own buttons and forms" in text
    answer = client.get(reverse("review-view-delete", args=[1]), HTTP_ACCEPT="application/json")
    assert answer.status_code == 405
    assert answer.json()["error"]["message"].startswith("This address does not answer GET")
