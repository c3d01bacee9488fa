"""The blind second review and the ruling on a disagreement, in Chromium."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import Group

from audit.oversight.models import OversightSettings, SecondReview
from audit.review.services import item_approve
from audit.trail.models import AuditEntry
from streams.models import Insight
from tests.browser.conftest import log_in
from tests.factories import make_insight

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def officer2(django_user_model):
    user = django_user_model.objects.create_user(username="oona", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Compliance officers"))
    return user


def test_the_second_officer_sees_the_item_blind_and_a_disagreement_is_ruled(
    browser, live_server, officer, officer2, gov_admin
):
    OversightSettings.objects.update_or_create(
        pk=1, defaults={"approval_share": 100.0, "rejection_share": 100.0}
    )
    insight = make_insight(snippet="Waive the <b>40 euro</b> fee for loyal customers")
    # Decided in a thread of its own: the decision's live broadcast needs an event loop
    # this (Playwright's) thread does not lend.
    with ThreadPoolExecutor(1) as pool:
        note = "Matches policy KB-7, approved by olivia"
        pool.submit(item_approve, item=insight, by=officer, note=note).result()

    second = browser.new_context().new_page()
    log_in(second, live_server, officer2.username)
    second.goto(f"{live_server.url}/second-review/")
    card = second.locator("#blind-item")
    assert "Waive the <b>40 euro</b> fee" in card.inner_text()  # shown as text, not markup
    shown = second.locator("main").inner_text()
    for leak in ("olivia", "KB-7", "Approved", "approved by"):
        assert leak not in shown, f"{leak!r} gives the first decision away"
    second.select_option("select[name=reason_code]", "inaccurate")
    second.fill("textarea[name=note]", "The fee cannot be waived")
    second.click("button[value=reject]")
    second.locator(".messages", has_text="Your second review is recorded").wait_for()
    assert second.locator("#nothing-waiting").is_visible()

    first = browser.new_context().new_page()
    log_in(first, live_server, officer.username)
    first.goto(f"{live_server.url}/second-review/")
    assert first.locator("#nothing-waiting").is_visible()  # never their own decision

    ruler = browser.new_context().new_page()
    log_in(ruler, live_server, gov_admin.username)
    ruler.goto(f"{live_server.url}/adjudication/")
    review = SecondReview.objects.get()
    row = ruler.locator(f"#disagreement-{review.pk}")
    text = row.inner_text()
    assert "olivia" in text and "oona" in text and "The fee cannot be waived" in text
    row.locator("select[name=reason_code]").select_option("inaccurate")
    row.locator("textarea[name=note]").fill("Fees are never waived (policy FIN-2)")
    row.locator("button[value=rejected]").click()
    ruler.locator(".messages", has_text="Your ruling").wait_for()
    assert ruler.locator("#nothing-to-rule").is_visible()

    insight.refresh_from_db()
    assert (insight.review_status, insight.reviewed_by) == ("rejected", gov_admin)
    assert AuditEntry.objects.filter(action="second_review.rule", actor=gov_admin).exists()
    assert Insight.objects.get().review_reason_code == "inaccurate"
