"""An officer reviews insights in the admin with a real browser."""

import pytest

from audit.trail.models import AuditEntry
from streams.models import Insight
from tests.browser.conftest import log_in
from tests.factories import make_insight

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_officer_rejects_an_insight_with_a_reason(page, live_server, officer):
    keep = make_insight(snippet="Offer the 30-day refund under KB-118")
    reject = make_insight(snippet="<img src=x onerror=alert(1)> stale advice")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    log_in(page, live_server, officer.username)
    page.goto(f"{live_server.url}/admin/streams/insight/")
    assert page.locator("#result_list").inner_text().count("stale advice") == 1
    page.check(f"input[name=_selected_action][value='{reject.pk}']")
    page.select_option("select[name=action]", "reject_selected")
    page.click("button[name=index]")

    reason = page.locator("select[name=reason_code]")
    page.click("input[type=submit][value=Reject]")
    assert reason.evaluate("el => el.validity.valueMissing"), "the browser asks for a reason"
    assert Insight.objects.get(pk=reject.pk).review_status == "pending"
    page.select_option("select[name=reason_code]", "outdated")
    page.fill("textarea[name=note]", "Stale advice: KB article was withdrawn")
    page.click("input[type=submit][value=Reject]")
    page.wait_for_selector(".messagelist")
    assert "Rejected 1 insight(s)." in page.locator(".messagelist").inner_text()

    reject.refresh_from_db()
    assert (reject.review_status, reject.review_reason_code, reject.review_note) == (
        "rejected",
        "outdated",
        "Stale advice: KB article was withdrawn",
    )
    assert Insight.objects.get(pk=keep.pk).review_status == "pending"
    assert AuditEntry.objects.get(action="insight.reject").actor == officer
    assert dialogs == [], "outside text must not run as script"
