"""Blind double review: sampling, the second officer's decision, adjudication, openings,
rule decisions sampled for officers."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.oversight import sampling, second_review
from audit.oversight.models import OversightSettings, SecondReview, StreamSampling
from audit.review.models import ItemOpening
from audit.review.services import item_approve, item_reject, items_decide_bulk
from audit.trail.models import AuditEntry
from streams.models import Insight, WebhookDelivery, WebhookEndpoint
from streams.privacy.subjects import commitment
from streams.webhooks import outbox
from tests.factories import make_insight, make_stream

pytestmark = pytest.mark.django_db


def _officer(django_user_model, username):
    user = django_user_model.objects.create_user(username=username, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Compliance officers"))
    return user


@pytest.fixture
def officer2(django_user_model):
    return _officer(django_user_model, "oona")


@pytest.fixture
def officer3(django_user_model):
    return _officer(django_user_model, "otto")


def sampled_everything(stream=None, share=100.0):
    OversightSettings.objects.update_or_create(
        pk=1, defaults={"approval_share": share, "rejection_share": share}
    )


def test_the_sample_share_holds_over_two_thousand_decisions():
    # The draw is keyed by the deployment's secret, so the same items are sampled every run.
    for share in (5.0, 20.0):
        drawn = sum(sampling.draw("insight", pk) * 100 < share for pk in range(1, 2001))
        assert abs(drawn / 2000 - share / 100) < 0.02, (share, drawn)


@pytest.mark.timeout(900)  # 2,000 audited decisions: a guard against a hang, not a speed limit
def test_the_share_holds_over_two_thousand_real_decisions(officer):
    sampled_everything(share=5.0)
    stream = make_stream(name="busy")
    now = timezone.now()
    Insight.objects.bulk_create(make_insight_row(stream, number, now) for number in range(2000))
    keys = [f"insight:{pk}" for pk in Insight.objects.values_list("pk", flat=True)]
    result = items_decide_bulk(by=officer, decision="approve", keys=keys)
    assert result.decided == 2000
    sampled = SecondReview.objects.filter(first_status="approved").count()
    assert 0.03 <= sampled / 2000 <= 0.07, sampled


def make_insight_row(stream, number, now):
    return Insight(
        stream=stream,
        external_id=f"bulk-{number}",
        interaction_id="interaction-1",
        insight_type="compliance_flag",
        confidence=0.8,
        snippet="text",
        payload={},
        received_at=now,
        latency_ms=1.0,
    )


def test_the_draw_is_stable_and_differs_by_purpose():
    assert sampling.draw("insight", 7) == sampling.draw("insight", 7)
    assert sampling.draw("insight", 7) != sampling.draw("knowledge", 7)
    assert sampling.draw("insight", 7) != sampling.draw("insight", 7, "rule")


def test_a_decision_in_the_share_goes_to_a_second_officer(officer):
    sampled_everything()
    insight = make_insight()
    item_approve(item=insight, by=officer)
    review = SecondReview.objects.get()
    assert (review.kind, review.item_id, review.source) == ("insight", insight.pk, "officer")
    assert (review.first_status, review.first_by) == ("approved", officer)
    assert review.stream == insight.stream
    assert review.outcome == SecondReview.Outcome.WAITING


def test_a_share_of_nothing_samples_nothing(officer):
    sampled_everything(share=0.0)
    item_reject(item=make_insight(), by=officer, reason_code="outdated")
    assert not SecondReview.objects.exists()


def test_a_stream_share_overrides_the_default_and_per_verdict(officer):
    sampled_everything(share=0.0)
    stream = make_stream(name="sales")
    StreamSampling.objects.create(stream=stream, approval_share=100.0, rejection_share=0.0)
    item_approve(item=make_insight(stream=stream), by=officer)
    item_reject(item=make_insight(stream=stream), by=officer, reason_code="outdated")
    item_approve(item=make_insight(), by=officer)  # another stream: the default, nothing
    assert list(SecondReview.objects.values_list("first_status", flat=True)) == ["approved"]


def test_nobody_second_reviews_their_own_decision(officer, officer2):
    sampled_everything()
    item_approve(item=make_insight(), by=officer)
    assert second_review.next_for(officer) is None
    review = second_review.next_for(officer2)
    assert review is not None
    with pytest.raises(second_review.SecondReviewConflict, match="first decision"):
        second_review.second_review_decide(
            review=review, by=officer, decision="reject", reason_code="outdated"
        )


def test_a_second_review_is_held_for_the_officer_who_opened_it(officer, officer2, officer3):
    sampled_everything()
    item_approve(item=make_insight(), by=officer)
    review = second_review.next_for(officer2)
    assert second_review.next_for(officer3) is None  # held by officer2
    assert second_review.next_for(officer2) == review
    with pytest.raises(second_review.SecondReviewConflict, match="open"):
        second_review.second_review_decide(review=review, by=officer3, decision="approve")
    later = timezone.now() + timedelta(minutes=second_review.HOLD_MINUTES + 1)
    assert second_review.next_for(officer3, now=later) == review


def test_whoever_sees_decisions_under_review_gives_no_second_review(officer, gov_admin, auditor):
    """Governance admins and auditors may read first decisions while they wait: they are
    never the blind second officer."""
    sampled_everything()
    item_approve(item=make_insight(), by=officer)
    review = SecondReview.objects.get()
    for user in (gov_admin, auditor):
        assert second_review.next_for(user) is None
        assert "second_reviews" not in second_review.waiting_for(user)
        with pytest.raises(second_review.SecondReviewConflict, match="not yours to give"):
            second_review.second_review_decide(review=review, by=user, decision="approve")


def test_agreement_is_recorded_beside_the_first_and_changes_nothing(officer, officer2):
    sampled_everything()
    insight = make_insight()
    item_approve(item=insight, by=officer, note="matches the policy")
    review = second_review.next_for(officer2)
    second_review.second_review_decide(review=review, by=officer2, decision="approve")
    review.refresh_from_db()
    assert review.outcome == SecondReview.Outcome.AGREED
    assert (review.second_status, review.second_by) == ("approved", officer2)
    insight.refresh_from_db()
    assert (insight.review_status, insight.reviewed_by) == ("approved", officer)
    entry = AuditEntry.objects.get(action="second_review.give")
    assert entry.actor == officer2
    assert entry.after["outcome"] == "agreed"
    assert not SecondReview.objects.to_adjudicate().exists()


def test_a_second_review_is_answered_once(officer, officer2, officer3):
    sampled_everything()
    item_approve(item=make_insight(), by=officer)
    review = second_review.next_for(officer2)
    second_review.second_review_decide(review=review, by=officer2, decision="approve")
    with pytest.raises(second_review.SecondReviewConflict):
        second_review.second_review_decide(review=review, by=officer3, decision="approve")


def test_a_second_rejection_needs_a_reason_code(officer, officer2):
    sampled_everything()
    item_approve(item=make_insight(), by=officer)
    review = second_review.next_for(officer2)
    with pytest.raises(ValidationError, match="needs a reason: choose one of"):
        second_review.second_review_decide(review=review, by=officer2, decision="reject")
    review.refresh_from_db()
    assert review.outcome == SecondReview.Outcome.WAITING


def disagreement(officer, officer2):
    sampled_everything()
    insight = make_insight()
    item_approve(item=insight, by=officer)
    review = second_review.next_for(officer2)
    second_review.second_review_decide(
        review=review, by=officer2, decision="reject", reason_code="inaccurate", note="wrong fee"
    )
    review.refresh_from_db()
    return insight, review


def test_a_disagreement_waits_for_a_ruling(officer, officer2):
    _, review = disagreement(officer, officer2)
    assert review.outcome == SecondReview.Outcome.DISAGREED
    assert list(SecondReview.objects.to_adjudicate()) == [review]


def test_a_ruling_against_the_item_changes_it_with_its_webhook_and_entries(
    officer, officer2, gov_admin
):
    endpoint = WebhookEndpoint(name="lms", url="https://lms.test/hook", events=["insight.rejected"])
    endpoint.set_secret(outbox.new_secret())
    endpoint.save()
    insight, review = disagreement(officer, officer2)
    second_review.adjudicate(
        review=review, by=gov_admin, ruling="rejected", reason_code="inaccurate", note="fee is 40"
    )
    review.refresh_from_db()
    assert (review.outcome, review.ruling, review.ruled_by) == ("ruled", "rejected", gov_admin)
    insight.refresh_from_db()
    assert (insight.review_status, insight.reviewed_by) == ("rejected", gov_admin)
    assert insight.review_reason_code == "inaccurate"
    ruling = AuditEntry.objects.get(action="second_review.rule")
    # The trail commits to the comment; the words are on the review.
    assert ruling.after["ruling_note"] == commitment("fee is 40") != "fee is 40"
    assert review.ruling_note == "fee is 40"
    changed = AuditEntry.objects.get(action="insight.overrule")
    assert changed.before["review_status"] == "approved"
    assert changed.after["review_status"] == "rejected"
    assert WebhookDelivery.objects.filter(event_type="insight.rejected").count() == 1


def test_a_ruling_for_the_item_leaves_it_as_it_is(officer, officer2, gov_admin):
    insight, review = disagreement(officer, officer2)
    second_review.adjudicate(review=review, by=gov_admin, ruling="approved", note="fee is right")
    insight.refresh_from_db()
    assert (insight.review_status, insight.reviewed_by) == ("approved", officer)
    assert not AuditEntry.objects.filter(action="insight.overrule").exists()


def test_a_ruling_needs_a_comment_and_is_final(officer, officer2, gov_admin):
    _, review = disagreement(officer, officer2)
    with pytest.raises(ValidationError, match="comment"):
        second_review.adjudicate(review=review, by=gov_admin, ruling="approved", note=" ")
    second_review.adjudicate(review=review, by=gov_admin, ruling="approved", note="fine")
    with pytest.raises(second_review.SecondReviewConflict, match="not waiting"):
        second_review.adjudicate(
            review=review, by=gov_admin, ruling="rejected", note="again", reason_code="other"
        )


def test_nobody_rules_on_a_disagreement_about_their_own_decision(
    gov_admin, officer2, django_user_model
):
    """A governance admin who also decides items (as the first officer here) is never the
    one to rule on a disagreement about that decision."""
    _, review = disagreement(gov_admin, officer2)
    assert not second_review.to_rule_on(gov_admin).exists()
    assert second_review.waiting_for(gov_admin)["disagreements"] == 0
    with pytest.raises(second_review.SecondReviewConflict, match="your own decision"):
        second_review.adjudicate(
            review=review, by=gov_admin, ruling="approved", note="mine is right"
        )
    other = django_user_model.objects.create_user(username="ada", password="pw", is_staff=True)
    other.groups.add(Group.objects.get(name="Governance admins"))
    assert list(second_review.to_rule_on(other)) == [review]
    second_review.adjudicate(review=review, by=other, ruling="approved", note="fee is right")


def test_the_blind_item_holds_no_first_decision(officer):
    sampled_everything()
    insight = make_insight(snippet="Quote the 40 euro fee")
    item_reject(item=insight, by=officer, reason_code="outdated", note="old fee")
    seen = second_review.blind_item(SecondReview.objects.get())
    assert seen["text"] == "Quote the 40 euro fee"
    flat = repr(seen)
    for leak in ("olivia", "reject", "outdated", "old fee"):
        assert leak not in flat


def test_an_opening_gives_the_decision_its_time(officer, client):
    insight = make_insight()
    client.force_login(officer)
    client.get(f"/review/items/insight/{insight.pk}/")
    client.get(f"/review/items/insight/{insight.pk}/")  # opening again keeps the first time
    opened = ItemOpening.objects.get().opened_at
    item_approve(item=insight, by=officer)
    insight.refresh_from_db()
    assert insight.review_opened_at == opened
    assert not ItemOpening.objects.exists()


def test_a_decision_without_an_opening_has_no_time(officer, gov_admin, client):
    insight = make_insight()
    client.force_login(gov_admin)
    client.get(f"/review/items/insight/{insight.pk}/")  # someone else opened it
    item_approve(item=insight, by=officer)
    insight.refresh_from_db()
    assert insight.review_opened_at is None


def test_rule_decisions_are_sampled_once_each(settings):
    OversightSettings.objects.update_or_create(pk=1, defaults={"rule_share": 100.0})
    old = timezone.now() - timedelta(minutes=5)
    rule = "confidence matrix default, Knowledge recommendation: auto-approve at 0.95"
    approved = make_insight(
        review_status="approved", review_rule=rule, reviewed_at=old, received_at=old
    )
    filtered = make_insight(
        review_status="filtered",
        review_rule="below 0.4: auto-filter",
        reviewed_at=old,
        received_at=old,
    )
    make_insight(received_at=old)  # pending: a person's to decide
    fresh = make_insight(review_status="approved", review_rule=rule)  # may still be committing
    assert sampling.sample_rule_decisions() == 2
    assert sampling.sample_rule_decisions() == 0
    reviews = SecondReview.objects.order_by("item_id")
    assert [(r.item_id, r.source, r.first_rule) for r in reviews] == [
        (approved.pk, "rule", rule),
        (filtered.pk, "rule", "below 0.4: auto-filter"),
    ]
    assert not SecondReview.objects.filter(item_id=fresh.pk).exists()


def test_a_settled_rule_decision_behind_a_recent_one_waits_for_it():
    OversightSettings.objects.update_or_create(pk=1, defaults={"rule_share": 100.0})
    old = timezone.now() - timedelta(minutes=5)
    # Ids are handed out before commit: a row received now may hold a lower id than one
    # received earlier that another batch committed first.
    recent = make_insight(
        review_status="approved", review_rule="auto-approve at 0.9", reviewed_at=timezone.now()
    )
    settled = make_insight(
        review_status="approved",
        review_rule="auto-approve at 0.9",
        reviewed_at=old,
        received_at=old,
    )
    assert sampling.sample_rule_decisions() == 0
    assert sampling.sample_rule_decisions(now=timezone.now() + timedelta(minutes=2)) == 2
    assert set(SecondReview.objects.values_list("item_id", flat=True)) == {recent.pk, settled.pk}


def test_an_officer_differing_from_a_rule_needs_no_ruling(officer):
    OversightSettings.objects.update_or_create(pk=1, defaults={"rule_share": 100.0})
    old = timezone.now() - timedelta(minutes=5)
    make_insight(
        review_status="filtered", review_rule="auto-filter", reviewed_at=old, received_at=old
    )
    sampling.sample_rule_decisions()
    review = second_review.next_for(officer)
    second_review.second_review_decide(review=review, by=officer, decision="approve")
    review.refresh_from_db()
    assert review.outcome == SecondReview.Outcome.DIFFERS_FROM_RULE
    assert not SecondReview.objects.to_adjudicate().exists()
    assert Insight.objects.get().review_status == "filtered"


def test_a_knowledge_answer_is_second_reviewed_blind_too(officer, officer2):
    from tests.factories import make_knowledge_query

    sampled_everything()
    answer = make_knowledge_query(
        text="roaming fees",
        review_status="pending",
        top_confidence=0.82,
        results=[
            {"title": "Travel Pass (KB-204)", "outcome": "passed"},
            {"title": "Old roaming rates", "outcome": "stale"},
        ],
    )
    item_reject(item=answer, by=officer, reason_code="outdated", note="old price")
    review = second_review.next_for(officer2)
    assert (review.kind, review.item_id, review.stream) == ("knowledge", answer.pk, None)
    seen = second_review.blind_item(review)
    assert (seen["text"], seen["answers"], seen["confidence"]) == (
        "roaming fees",
        ["Travel Pass (KB-204)"],
        0.82,
    )
    assert "old price" not in repr(seen) and "olivia" not in repr(seen)


def test_the_second_review_page_says_why_an_answer_was_refused(client, officer, officer2):
    sampled_everything()
    item_approve(item=make_insight(), by=officer)
    client.force_login(officer2)
    review = second_review.next_for(officer2)
    page = client.post(
        f"/second-review/{review.pk}/decide", {"decision": "reject"}, follow=True
    ).content.decode()
    assert "A rejection needs a reason: choose one of" in page
    review.refresh_from_db()
    assert review.outcome == SecondReview.Outcome.WAITING


def test_an_officer_can_leave_an_item_for_another_and_gets_the_next(client, officer, officer2):
    sampled_everything()
    first, second = make_insight(), make_insight()
    item_approve(item=first, by=officer)
    item_approve(item=second, by=officer)
    held = second_review.next_for(officer2)
    assert held.item_id == first.pk
    client.force_login(officer2)
    page = client.post(f"/second-review/{held.pk}/release", follow=True).content.decode()
    assert "Left for another officer" in page
    assert second_review.next_for(officer2).item_id == second.pk  # the next one, not it again
    held.refresh_from_db()
    assert held.holder is None and held.outcome == SecondReview.Outcome.WAITING


def test_second_reviews_count_for_whoever_answered_them(client, officer, officer2):
    from django.urls import reverse

    from audit.oversight import figures
    from audit.review.workspace import team_progress

    sampled_everything()
    for _ in range(2):
        item_approve(item=make_insight(), by=officer)
        review = second_review.next_for(officer2)
        second_review.second_review_decide(review=review, by=officer2, decision="approve")
    make_insight()  # one pending
    found = figures.oversight(timezone.now() - timedelta(hours=1))
    by_name = {reviewer.name: reviewer for reviewer in found["officers"]}
    assert (by_name["oona"].second_reviews, by_name["olivia"].second_reviews) == (2, 0)
    assert found["team"].second_reviews == 2
    progress = team_progress(officer2)
    assert progress["me"]["second_today"] == 2 and progress["second_today"] == 2
    # The dashboard's "waiting for review" is the review page's own Pending count.
    assert (progress["pending"], progress["pending_capped"]) == (1, False)
    client.force_login(officer)
    page = client.get(reverse("dashboard")).content.decode()
    assert "1 waiting for review now" in page and "2 second reviews" in page
