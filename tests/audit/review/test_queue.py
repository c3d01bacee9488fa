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
    assert len(words) == 18 and all("refund window" in row["snippet"] for row in words)
    by_id = review_page(ReviewFilters.parse({"search": "conv-ÅB-17"}), limit=100)["items"]
    assert [row["interaction_id"] for row in by_id] == ["conv-ÅB-17"]
    none = review_page(ReviewFilters.parse({"search": "refund number"}), limit=100)
    assert none["items"] == [] and none["count"] == 0


def search(words, **filters):
    return review_page(ReviewFilters.parse({"search": words, **filters}), limit=100)


def test_search_finds_other_forms_of_a_word(backlog):
    """Stemming: what people mean, not the letters they typed."""
    assert search("cards")["count"] == 19  # "card number"
    assert search("numbers card")["count"] == 19
    assert search("refunds windows")["count"] == 18
    assert search("refunding windowed")["count"] == 18


def test_search_reads_corrections_and_notes_and_follows_their_changes(backlog):
    corrected = make_insight(snippet="as said", corrected_text="The chargeback was disputed")
    noted = make_insight(snippet="as said", review_note="escalated to the supervisors")
    assert [row["id"] for row in search("chargebacks dispute")["items"]] == [corrected.pk]
    assert [row["id"] for row in search("supervisor")["items"]] == [noted.pk]
    noted.review_note = "closed"
    noted.save(update_fields=["review_note"])
    assert search("supervisor")["count"] == 0  # the index follows the text (and an erasure)
    assert [row["id"] for row in search("closed")["items"]] == [noted.pk]
    corrected.delete()
    assert search("chargeback")["count"] == 0


def test_best_match_first_ranks_and_pages_every_match_once(backlog):
    sort = SORTS["relevance"]
    dense = make_insight(snippet="refund refund: the refund window for a refund")
    filters = ReviewFilters.parse({"search": "refund"})
    first = review_page(filters, sort=sort, limit=100)["items"]
    assert first[0]["id"] == dense.pk
    forward, backward, pages = walk(filters, sort, limit=4)
    assert forward == backward == [row["key"] for row in first]
    assert len(forward) == 27 and pages == 7  # 19 insights and 8 knowledge answers


def test_the_search_is_read_through_its_index(backlog):
    """On PostgreSQL the GIN index on the search vector, on SQLite the FTS5 table: never a
    scan of every item's text."""
    from django.db import connection

    filters = ReviewFilters.parse({"search": "refund window", "status": "all"})
    queryset = filters.queryset("insight")
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = " ".join(row[0] for row in cursor.fetchall())
            cursor.execute("SET enable_seqscan = on")
            assert "insight_search" in plan
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
            assert "VIRTUAL TABLE INDEX" in plan and "insight_search" in plan


def test_punctuation_alone_finds_nothing_and_breaks_nothing(backlog):
    for text in ['"', "*", "AND OR NOT", "-", "a:b", "NEAR(x y)"]:
        page = search(text)
        assert page["count"] >= 0  # answered, not an error
    assert search('"')["count"] == 0


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


def test_an_erased_conversation_s_words_leave_the_search_index(backlog):
    """The index holds words of the texts it indexes: an erasure takes them out of it too,
    not only out of the results (FTS5 would keep the old pages until a merge)."""
    from django.db import connection

    from audit.privacy.erasure import erase_conversation

    make_insight(interaction_id="conv-erased", snippet="the zebrafinch account was closed")
    assert search("zebrafinch")["count"] == 1
    erase_conversation("conv-erased", reason="Art. 17 request", actor_label="test")
    assert search("zebrafinch")["count"] == 0
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT block FROM insight_search_data")
            assert not any(b"zebrafinch" in bytes(block or b"") for (block,) in cursor.fetchall())


def test_a_search_too_common_to_rank_is_listed_newest_first_and_says_so(backlog, monkeypatch):
    from audit.review import search as searching

    monkeypatch.setattr(searching, "COMMON", 10)
    sort = SORTS["relevance"]
    filters = ReviewFilters.parse({"search": "refund"})  # 19 insights hold it: more than 10
    page = review_page(filters, sort=sort, limit=5)
    assert page["sort"] == "newest" and "newest first: add words" in page["sort_note"]
    received = [row["received_at"] for row in page["items"]]
    assert received == sorted(received, reverse=True)
    # Its next page, asked for in the sort the page asked for, follows on.
    following = review_page(filters, sort=sort, after=page["last"], limit=5)
    assert following["items"][0]["received_at"] <= received[-1]
    assert review_page(ReviewFilters.parse({"search": "refund window"}), sort=sort)["sort"] == (
        "newest"
    )
    narrow = review_page(ReviewFilters.parse({"search": "card number"}), sort=sort)
    assert narrow["sort"] == "newest"  # 19 too
    monkeypatch.setattr(searching, "COMMON", 100)
    ranked = review_page(ReviewFilters.parse({"search": "card number"}), sort=sort)
    assert ranked["sort"] == "relevance" and ranked["sort_note"] == ""


def test_a_page_asks_what_its_search_is_once_not_per_read(backlog):
    """A page's rows, count and place read with one search: whether it names a
    conversation, and whether its words are common, are asked once per kind."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    first = review_page(ReviewFilters.parse({"search": "refund"}), sort=SORTS["relevance"], limit=5)
    filters = ReviewFilters.parse({"search": "refund"})  # as the next page's request parses
    with CaptureQueriesContext(connection) as queries:
        page = review_page(filters, sort=SORTS["relevance"], after=first["last"], limit=5)
    assert page["items"] and page["position"] == 5
    asked = [q["sql"] for q in queries.captured_queries if "refund" in q["sql"]]
    by_id = [sql for sql in asked if "LIMIT 1" in sql and "MATCH" not in sql and "@@" not in sql]
    assert len(by_id) == 2  # once for insights, once for knowledge answers
