"""The review queue, page by page: every matching item reachable, each exactly once, in each
sort, with counts that stay cheap."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.review import queue
from audit.review.queue import SORTS, Cursor, review_page
from audit.review.selectors import ReviewFilters
from tests.factories import make_insight, make_knowledge_query, make_stream

pytestmark = pytest.mark.django_db


@pytest.fixture
def backlog():
    """37 insights (some without a confidence, some tied) and 8 knowledge answers."""
    stream = make_stream(name="backlog")
    start = timezone.now() - timedelta(hours=1)
    keys = []
    for n in range(37):
        confidence = None if n % 9 == 0 else round((n % 7) / 10, 2)  # ties on purpose
        item = make_insight(
            stream=stream,
            confidence=confidence,
            received_at=start + timedelta(seconds=n),
            snippet=f"item {n} refund window" if n % 2 else f"item {n} card number",
        )
        keys.append(f"insight:{item.pk}")
    for n in range(8):
        item = make_knowledge_query(
            origin="api",
            review_status="pending",
            top_confidence=None if n == 0 else n / 10,
            created_at=start + timedelta(seconds=100 + n),
        )
        keys.append(f"knowledge:{item.pk}")
    return keys


def walk(filters, sort, limit):
    """Every page from the first to the last, by `after`; and back again, by `before`."""
    forward, page = [], review_page(filters, sort=sort, limit=limit)
    pages = 0
    while True:
        pages += 1
        forward += [row["key"] for row in page["items"]]
        if not page["has_next"]:
            break
        page = review_page(filters, sort=sort, after=Cursor.parse(page["last"], sort), limit=limit)
    backward, page = [], review_page(filters, sort=sort, last=True, limit=limit)
    while True:
        backward = [row["key"] for row in page["items"]] + backward
        if not page["has_prev"]:
            break
        page = review_page(
            filters, sort=sort, before=Cursor.parse(page["first"], sort), limit=limit
        )
    return forward, backward, pages


def expected_order(filters, sort):
    """The whole queue in `sort`, read in one go, for comparison."""
    rows = queue._merged(filters, sort, None, 10_000, backwards=False)
    return [row["key"] for row in rows]


@pytest.mark.parametrize("sort", list(SORTS))
def test_paging_reaches_every_item_once_in_order_both_ways(backlog, sort):
    filters = ReviewFilters()
    order = expected_order(filters, SORTS[sort])
    forward, backward, pages = walk(filters, SORTS[sort], limit=10)
    assert sorted(order) == sorted(backlog)
    assert forward == order == backward
    assert pages == 5  # 45 items in pages of 10


def test_the_default_order_is_lowest_confidence_first_none_before_all(backlog):
    rows = review_page(ReviewFilters(), limit=45)["items"]
    confidences = [row["confidence"] for row in rows]
    missing = [c for c in confidences if c is None]
    assert confidences[: len(missing)] == missing
    known = confidences[len(missing) :]
    assert known == sorted(known)


def test_the_page_says_where_it_is_and_how_many_match(backlog):
    filters = ReviewFilters()
    first = review_page(filters, limit=10)
    assert (first["count"], first["count_capped"], first["position"]) == (45, False, 0)
    assert (first["has_prev"], first["has_next"]) == (False, True)
    sort = SORTS["confidence"]
    second = review_page(filters, sort=sort, after=Cursor.parse(first["last"], sort), limit=10)
    assert second["position"] == 10 and second["has_prev"]
    last = review_page(filters, last=True, limit=10)
    assert last["position"] == 35 and not last["has_next"]
    assert len(last["items"]) == 10


def test_a_large_count_stops_at_the_cap_and_says_so(backlog, monkeypatch):
    monkeypatch.setattr(queue, "COUNT_CAP", 20)
    page = review_page(ReviewFilters(), limit=10)
    assert (page["count"], page["count_capped"]) == (20, True)


def test_decided_items_leave_the_pending_queue_but_a_page_after_them_still_works(backlog):
    filters = ReviewFilters()
    sort = SORTS["confidence"]
    first = review_page(filters, limit=10)
    from streams.models import Insight

    Insight.objects.filter(pk=first["items"][-1]["id"]).update(review_status="approved")
    second = review_page(filters, sort=sort, after=Cursor.parse(first["last"], sort), limit=10)
    assert second["items"][0]["key"] not in {row["key"] for row in first["items"]}


def test_search_matches_every_word_or_an_interaction_id(backlog):
    make_insight(interaction_id="conv-ÅB-17", snippet="nothing alike")
    words = review_page(ReviewFilters.parse({"search": "REFUND window"}), limit=100)["items"]
    assert words and all("refund window" in row["snippet"] for row in words)
    by_id = review_page(ReviewFilters.parse({"search": "conv-ÅB-17"}), limit=100)["items"]
    assert [row["interaction_id"] for row in by_id] == ["conv-ÅB-17"]
    none = review_page(ReviewFilters.parse({"search": "refund number"}), limit=100)
    assert none["items"] == [] and none["count"] == 0


@pytest.mark.parametrize(
    ("cursor", "sort"),
    [
        ("0.5~insight", "confidence"),
        ("x~insight~1", "confidence"),
        ("0.5~user~1", "confidence"),
        ("0.5~insight~1", "newest"),
        ("none~insight~1", "oldest"),
        ("0.5~insight~" + "9" * 30, "confidence"),
    ],
)
def test_a_malformed_page_address_is_refused_with_a_message(cursor, sort):
    with pytest.raises(ValidationError, match="is not a place"):
        Cursor.parse(cursor, SORTS[sort])


def test_an_unknown_sort_is_refused():
    with pytest.raises(ValidationError, match="sort 'sideways' is not one of"):
        queue.parse_sort("sideways")
