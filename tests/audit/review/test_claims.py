"""Work shared, not raced: claims by conditional UPDATEs, released on decision, release,
sign-out and expiry; assignment by a lead; skip."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import close_old_connections
from django.utils import timezone

from audit.review import claims
from audit.review.models import WorkspaceSettings
from audit.review.queue import review_page
from audit.review.selectors import ReviewFilters
from audit.review.services import DecisionConflict, item_approve
from audit.trail.models import AuditEntry
from streams.models import Insight
from tests.factories import make_insight, make_stream


def backlog(count):
    stream = make_stream()
    return [make_insight(stream=stream, confidence=n / (count + 1)) for n in range(count)]


def mine(user):
    filters = ReviewFilters(scope="mine", viewer_id=user.pk)
    return {row["key"] for row in review_page(filters, limit=500, counted=False)["items"]}


@pytest.mark.django_db
def test_claim_next_takes_the_setting_s_number_in_queue_order(officer):
    items = backlog(30)
    WorkspaceSettings.objects.update_or_create(pk=1, defaults={"claim_size": 7})
    taken = claims.items_claim_next(by=officer, filters=ReviewFilters())
    assert taken.keys == [f"insight:{i.pk}" for i in items[:7]]
    assert mine(officer) == set(taken.keys)
    held = Insight.objects.get(pk=items[0].pk)
    assert held.claimed_by == officer
    assert timedelta(minutes=14) < held.claimed_until - timezone.now() <= timedelta(minutes=15)
    assert AuditEntry.objects.filter(action="insight.claim").count() == 7


@pytest.mark.django_db
def test_a_second_officer_never_gets_the_first_s_items(officer, gov_admin):
    backlog(30)
    first = claims.items_claim_next(by=officer, filters=ReviewFilters(), count=20)
    second = claims.items_claim_next(by=gov_admin, filters=ReviewFilters(), count=20)
    assert len(first.keys) == 20 and len(second.keys) == 10
    assert not set(first.keys) & set(second.keys)
    third = claims.items_claim_next(by=gov_admin, filters=ReviewFilters(), count=5)
    assert third.keys == [] and "Nothing to claim" in third.message()


@pytest.mark.django_db(transaction=True)
def test_two_officers_claiming_at_the_same_moment_split_the_backlog(officer, gov_admin):
    """The race the conditional UPDATE settles: both read the same candidates; each row
    goes to exactly one of them, and the loser takes the next ones."""
    backlog(30)
    start = threading.Barrier(2)

    def claim(user):
        start.wait()
        try:
            return claims.items_claim_next(by=user, filters=ReviewFilters(), count=20).keys
        finally:
            close_old_connections()

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(claim, [officer, gov_admin])
    assert not set(a) & set(b)
    assert len(a) + len(b) == 30
    assert Insight.objects.filter(claimed_by=None).count() == 0


@pytest.mark.django_db
def test_nobody_else_may_decide_a_claimed_item_and_the_message_says_who(officer, gov_admin):
    (item,) = backlog(1)
    claims.items_claim_next(by=officer, filters=ReviewFilters())
    with pytest.raises(DecisionConflict, match=r"is claimed by olivia until .* UTC: leave it"):
        item_approve(item=Insight.objects.get(pk=item.pk), by=gov_admin)
    item_approve(item=Insight.objects.get(pk=item.pk), by=officer)
    decided = Insight.objects.get(pk=item.pk)
    assert decided.review_status == "approved"
    assert decided.claimed_by is None and decided.claimed_until is None  # the claim ended


@pytest.mark.django_db
def test_an_expired_claim_is_free_for_anyone(officer, gov_admin):
    (item,) = backlog(1)
    claims.items_claim_next(by=officer, filters=ReviewFilters())
    Insight.objects.filter(pk=item.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert mine(officer) == set()
    taken = claims.items_claim_next(by=gov_admin, filters=ReviewFilters())
    assert taken.keys == [f"insight:{item.pk}"]


@pytest.mark.django_db
def test_release_gives_items_back_and_is_audited(officer):
    items = backlog(3)
    claims.items_claim_next(by=officer, filters=ReviewFilters())
    assert claims.claims_release(by=officer, keys=[f"insight:{items[0].pk}"]) == 1
    assert mine(officer) == {f"insight:{i.pk}" for i in items[1:]}
    assert claims.claims_release(by=officer) == 2
    assert mine(officer) == set()
    assert AuditEntry.objects.filter(action="insight.release").count() == 3


@pytest.mark.django_db
def test_signing_out_releases_every_claim(client, officer):
    backlog(4)
    claims.items_claim_next(by=officer, filters=ReviewFilters())
    client.force_login(officer)
    client.post("/logout/")
    assert Insight.objects.exclude(claimed_by=None).count() == 0
    assert AuditEntry.objects.filter(action="insight.release", after__reason="signed out").exists()


@pytest.mark.django_db
def test_a_lead_assigns_items_whoever_held_them(officer, gov_admin, auditor):
    items = backlog(6)
    claims.items_claim_next(by=gov_admin, filters=ReviewFilters(), count=2)
    keys = [f"insight:{i.pk}" for i in items[:3]]
    assigned = claims.items_assign(by=gov_admin, to=officer, keys=keys)
    assert assigned.keys == keys
    held = Insight.objects.get(pk=items[0].pk)
    assert (held.claimed_by, held.claim_assigned_by) == (officer, gov_admin)
    hours = WorkspaceSettings.current().assignment_hours
    assert held.claimed_until - timezone.now() > timedelta(hours=hours - 1)
    entry = AuditEntry.objects.filter(action="insight.assign").first()
    assert entry.actor == gov_admin and entry.after["claimed_by"] == "olivia"
    # "The next N of these filters" takes only free items.
    more = claims.items_assign(by=gov_admin, to=officer, filters=ReviewFilters(), count=10)
    assert set(more.keys) == {f"insight:{i.pk}" for i in items[3:]}


@pytest.mark.django_db
def test_skip_moves_an_item_to_the_end_of_my_claim(officer):
    items = backlog(3)
    claims.items_claim_next(by=officer, filters=ReviewFilters())
    assert claims.item_skip(by=officer, key=f"insight:{items[0].pk}")
    assert Insight.objects.get(pk=items[0].pk).claim_deferred_at is not None
    assert not claims.item_skip(by=officer, key=f"insight:{make_insight().pk}")  # not mine


def test_an_item_key_must_name_a_kind_and_an_id():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="is not an item of the queue"):
        claims.parse_keys(["user:1"])
    assert claims.parse_keys(["insight:3", "knowledge:4"]) == {"insight": [3], "knowledge": [4]}
