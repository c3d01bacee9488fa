import pytest
from django.db import connection
from django.urls import reverse

from audit.trail import triggers
from audit.trail.models import AuditEntry
from audit.trail.record import audit_record
from audit.vocabulary import ReasonCode
from tests.factories import make_stream

pytestmark = pytest.mark.django_db


def test_logging_in_lands_on_the_review_queue(client, officer):
    response = client.post(reverse("login"), {"username": "olivia", "password": "pw"})
    assert response.url == reverse("review")


def test_the_review_page_offers_the_active_reason_codes_and_the_streams(client, officer):
    ReasonCode.objects.filter(code="duplicate").update(active=False)
    make_stream(name="eu-insights")
    client.force_login(officer)
    page = client.get(reverse("review")).content.decode()
    assert "Outdated or withdrawn content" in page
    assert "Duplicate of another insight" not in page
    assert ">eu-insights</option>" in page
    assert "cannot decide" not in page


def test_an_auditor_is_told_the_page_is_read_only(client, auditor):
    client.force_login(auditor)
    page = client.get(reverse("review")).content.decode()
    assert "Your role can read and export; it cannot claim or decide." in page
    assert '<div id="decide" class="decide" hidden>' in page


def test_the_navigation_follows_the_role(client, officer, auditor):
    client.force_login(officer)
    assert "Audit trail" not in client.get(reverse("review")).content.decode()
    client.force_login(auditor)
    assert "Audit trail" in client.get(reverse("review")).content.decode()


def test_checking_the_chain_now_reports_an_intact_chain_and_records_the_check(client, auditor):
    audit_record(action="x", actor_label="t")
    client.force_login(auditor)  # a sign-in entry: two entries before the check
    page = client.post(reverse("audit-verify")).content.decode()
    assert "The hash chain is intact: 2 entries verified, up to entry" in page
    check = AuditEntry.objects.order_by("-id").first()
    assert (check.action, check.actor_label) == ("audit.verify", "audrey")
    assert check.after["entries_checked"] == 2 and check.after["trigger"] == "on demand"
    # The page and the trail then show the recorded check.
    page = client.get(reverse("audit-verify")).content.decode()
    assert "(by audrey), the hash chain was intact: 2 entries verified" in page


def test_the_audit_page_reports_the_first_broken_link(client, auditor):
    entry = audit_record(action="x", actor_label="t")
    triggers.remove(connection)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditentry SET action = 'y' WHERE id = %s", [entry.pk])
    triggers.install(connection)
    client.force_login(auditor)
    page = client.post(reverse("audit-verify")).content.decode()
    assert f"entry {entry.pk} does not match its hash" in page
    trail = client.get(reverse("audit-trail")).content.decode()
    assert "The hash chain was broken at its last check" in trail


def test_the_review_page_offers_knowledge_filters_only_to_who_may_see_answers(
    client, officer, django_user_model
):
    from django.contrib.auth.models import Permission

    from tests.factories import make_knowledge_stream

    stream = make_knowledge_stream(name="desk-knowledge")
    client.force_login(officer)
    page = client.get(reverse("review")).content.decode()
    assert f'value="knowledge:{stream.pk}">desk-knowledge</option>' in page
    assert ">Knowledge answers</option>" in page
    reader = django_user_model.objects.create_user("ivy", password="pw")
    reader.user_permissions.add(
        Permission.objects.get(codename="view_insight", content_type__app_label="streams")
    )
    client.force_login(reader)
    page = client.get(reverse("review")).content.decode()
    assert "desk-knowledge" not in page and "Knowledge answers" not in page


def test_the_login_page_offers_single_sign_on_when_configured_and_can_hide_passwords(
    client, settings
):
    page = client.get(reverse("login")).content.decode()
    assert 'id="local-login"' in page and 'id="sso"' not in page
    settings.OIDC_ISSUER = "https://login.example.test"
    settings.LOCAL_PASSWORDS = False
    page = client.get(reverse("login")).content.decode()
    assert "Sign in with Company sign-in" in page
    assert 'id="local-login"' not in page
