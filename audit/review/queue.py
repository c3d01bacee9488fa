"""The review queue, page by page: keyset pagination over insights and knowledge answers
merged, in any of the queue's sorts, with counts that stay fast on a large backlog.

A row's place is its key, (sort value, kind, id), compared as a tuple; a missing confidence
sorts below every other value. A page is read as range scans of the (status, value, id)
indexes, each limited to the page size, never with OFFSET: the last page of a million is as
quick as the first. The cursor of a page's first or last row, written `value~kind~id`, goes
in the page's address, so a page can be bookmarked and shared."""

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Min, Q

from audit.review import search
from audit.review.selectors import ReviewFilters, insight_rows, knowledge_rows
from streams.genesys.times import iso, parse_time
from streams.live import INSIGHT, KNOWLEDGE
from streams.models import KnowledgeQuery

PAGE_SIZE = 50
# Counting past this would read the whole backlog on every page: the count says "more than".
COUNT_CAP = 100_000
# A search counts less far: past this many matches, a count says nothing more to a person
# (they narrow the search), and every match counted is a lookup in the search index.
SEARCH_COUNT_CAP = 10_000


@dataclass(frozen=True)
class Sort:
    """One of the queue's orders: a field per kind, ascending or not."""

    name: str
    label: str
    fields: dict  # kind -> field
    nullable: bool
    descending: bool
    numeric: bool = True  # a number (a confidence, a rank), not a time
    # Ranked by the search (audit.review.search): the value is each row's rank.
    ranked: bool = False


SORTS = {
    sort.name: sort
    for sort in (
        Sort(
            "confidence",
            "Lowest confidence first",
            {INSIGHT: "confidence", KNOWLEDGE: "top_confidence"},
            nullable=True,
            descending=False,
        ),
        Sort(
            "-confidence",
            "Highest confidence first",
            {INSIGHT: "confidence", KNOWLEDGE: "top_confidence"},
            nullable=True,
            descending=True,
        ),
        Sort(
            "oldest",
            "Oldest first",
            {INSIGHT: "received_at", KNOWLEDGE: "created_at"},
            nullable=False,
            descending=False,
            numeric=False,
        ),
        Sort(
            "newest",
            "Newest first",
            {INSIGHT: "received_at", KNOWLEDGE: "created_at"},
            nullable=False,
            descending=True,
            numeric=False,
        ),
        Sort(
            "relevance",
            "Best match first",
            {INSIGHT: search.RANK, KNOWLEDGE: search.RANK},
            nullable=False,
            descending=True,
            ranked=True,
        ),
    )
}


DEFAULT_SORT = "confidence"


def parse_sort(value) -> Sort:
    name = str(value or DEFAULT_SORT)
    if name not in SORTS:
        raise ValidationError(f"sort {name[:40]!r} is not one of {', '.join(SORTS)}")
    return SORTS[name]


@dataclass(frozen=True)
class Cursor:
    """A row's place in a sort."""

    value: float | datetime | None
    kind: str
    id: int

    def __str__(self) -> str:
        if self.value is None:
            value = "none"
        elif isinstance(self.value, datetime):
            # To the microsecond: a cursor rounded to the millisecond would skip or repeat
            # rows stored within the same millisecond.
            value = self.value.astimezone(UTC).isoformat(timespec="microseconds")
        else:
            value = repr(float(self.value))
        return f"{value}~{self.kind}~{self.id}"

    @classmethod
    def parse(cls, text, sort: Sort) -> "Cursor":
        """From `value~kind~id` (ValidationError otherwise)."""
        value, kind, number = [*str(text).split("~"), "", "", ""][:3]
        if kind not in (INSIGHT, KNOWLEDGE) or not number.isdigit() or len(number) > 18:
            raise ValidationError(f"page {str(text)[:60]!r} is not a place in the queue")
        if value == "none" and sort.nullable:
            return cls(None, kind, int(number))
        if sort.numeric:
            try:
                return cls(float(value), kind, int(number))
            except ValueError:
                pass
        elif (when := parse_time(value)) is not None:
            return cls(when, kind, int(number))
        raise ValidationError(f"page {str(text)[:60]!r} is not a place in this sort")

    def key(self) -> tuple:
        return _key(self.value, self.kind, self.id)


def _key(value, kind: str, number: int) -> tuple:
    """Comparable in Python as the database orders: a missing value below all others."""
    if isinstance(value, datetime):
        value = value.timestamp()
    return (value is not None, value if value is not None else 0.0, kind, number)


def row_cursor(row: dict) -> Cursor:
    return Cursor(row["sort_value"], row["kind"], row["id"])


def review_page(
    filters: ReviewFilters,
    *,
    sort: Sort | None = None,
    after: "Cursor | str | None" = None,
    before: "Cursor | str | None" = None,
    last: bool = False,
    limit: int = PAGE_SIZE,
    counted: bool = True,
) -> dict:
    """One page of the queue: after a row, before a row, the last page, or the first; with
    the number of rows matching and the page's place (unless not `counted`)."""
    sort, note = _feasible(filters, sort or SORTS[DEFAULT_SORT])
    after, before = (_cursor(after, sort), _cursor(before, sort))
    backwards = before is not None or last
    cursor = before if before is not None else after
    rows = _merged(filters, sort, cursor, limit + 1, backwards=backwards)
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    has_prev = more if backwards else after is not None
    has_next = (before is not None) if backwards else more
    count, capped = queue_count(filters) if counted else (0, False)
    first = str(row_cursor(rows[0])) if rows else ""
    # The first page is at the start: nothing to count before it.
    first_page = after is None and not backwards
    position = (
        queue_position(filters, sort, row_cursor(rows[0]))
        if rows and counted and not first_page
        else 0
    )
    return {
        "items": [_public(row) for row in rows],
        "count": count,
        "count_capped": capped,
        "position": position,
        "has_prev": has_prev or position > 0,
        "has_next": has_next,
        "first": first,
        "last": str(row_cursor(rows[-1])) if rows else "",
        "sort": sort.name,
        "sort_note": note,
    }


def _feasible(filters: ReviewFilters, sort: Sort) -> tuple[Sort, str]:
    """`sort`, or newest first with why, when it would rank more matches than is quick."""
    if not sort.ranked or not filters.search_is_common():
        return sort, ""
    return SORTS["newest"], (
        f"More than {search.COMMON:,} items hold these words, so they are listed newest "
        "first: add words to list them by how well they match."
    )


def _cursor(value, sort: Sort) -> "Cursor | None":
    """A page's place, as a Cursor or as written in its address (read in `sort`)."""
    if value is None or isinstance(value, Cursor):
        return value
    return Cursor.parse(value, sort)


def _public(row: dict) -> dict:
    row = dict(row)
    value = row.pop("sort_value")
    row["cursor"] = str(Cursor(value, row["kind"], row["id"]))
    return row


def _merged(filters: ReviewFilters, sort: Sort, cursor, limit: int, *, backwards: bool) -> list:
    """Up to `limit` rows of both kinds after (or before) `cursor`, in scan order."""
    descending = sort.descending != backwards
    rows = []
    for kind, read in ((INSIGHT, insight_rows), (KNOWLEDGE, knowledge_rows)):
        queryset = filters.queryset(kind, how="rank" if sort.ranked else "scan")
        if queryset is None:
            continue
        rows += _scan(queryset, kind, read, sort, cursor, limit, descending)
    rows.sort(key=lambda row: _key(row["sort_value"], row["kind"], row["id"]), reverse=descending)
    return rows[:limit]


def _scan(queryset, kind: str, read, sort: Sort, cursor, limit: int, descending: bool) -> list:
    """One kind's rows past `cursor` in scan order, as range scans of its index: for a
    nullable field the rows without a value (lowest) and the others are read apart, so
    neither needs a sort of the whole backlog."""
    field = sort.fields[kind]
    direction = "-" if descending else ""
    order = [f"{direction}{field}", f"{direction}id"]
    parts = []
    if sort.nullable:
        nulls = queryset.filter(**{f"{field}__isnull": True})
        values = queryset.filter(**{f"{field}__isnull": False})
        groups = [(values, order), (nulls, [f"{direction}id"])]
        if not descending:
            groups.reverse()  # ascending: the rows without a value come first
    else:
        groups = [(queryset, order)]
    for part, part_order in groups:
        if len(parts) >= limit:
            break
        part = part.filter(_past(kind, field, cursor, descending)) if cursor else part
        parts += read(part.order_by(*part_order)[: limit - len(parts)], sort_field=field)
    return parts


def _past(kind: str, field: str, cursor: Cursor, descending: bool) -> Q:
    """Rows of `kind` whose key comes after `cursor` in scan order."""
    same_kind_ahead = (kind > cursor.kind) if not descending else (kind < cursor.kind)
    if kind == cursor.kind:
        tie = Q(id__lt=cursor.id) if descending else Q(id__gt=cursor.id)
    else:
        tie = Q() if same_kind_ahead else Q(pk__in=[])
    beyond, equal = ("lt" if descending else "gt"), Q(**{field: cursor.value})
    if cursor.value is None:
        missing = Q(**{f"{field}__isnull": True})
        if descending:
            return missing & tie
        return ~missing | (missing & tie)
    ahead = Q(**{f"{field}__{beyond}": cursor.value})
    if descending:
        ahead |= Q(**{f"{field}__isnull": True})
    return ahead | (equal & tie)


def capped_count(queryset, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """The number of rows, or `cap` and True when there are more (a count that reads at
    most `cap` + 1 index entries)."""
    count = queryset.order_by()[: cap + 1].count()
    return min(count, cap), count > cap


def count_cap(filters: ReviewFilters) -> int:
    return SEARCH_COUNT_CAP if filters.search else COUNT_CAP


def queue_count(filters: ReviewFilters) -> tuple[int, bool]:
    total, capped, cap = 0, False, count_cap(filters)
    for kind in (INSIGHT, KNOWLEDGE):
        queryset = filters.queryset(kind, how="count")
        if queryset is not None:
            count, more = capped_count(queryset, cap)
            total, capped = total + count, capped or more
    return min(total, cap), capped or total > cap


def queue_position(filters: ReviewFilters, sort: Sort, cursor: Cursor) -> int:
    """How many rows come before `cursor` (capped): the page's place, "items 201-250"."""
    total, cap = 0, count_cap(filters)
    for kind in (INSIGHT, KNOWLEDGE):
        queryset = filters.queryset(kind, how="rank" if sort.ranked else "count")
        if queryset is None:
            continue
        before = queryset.filter(_past(kind, sort.fields[kind], cursor, not sort.descending))
        total += capped_count(before, cap)[0]
    return min(total, cap)


def review_queue(filters: ReviewFilters, *, limit: int = PAGE_SIZE) -> dict:
    """The first page in the default sort, without counting: what a page starts from."""
    rows = _merged(filters, SORTS[DEFAULT_SORT], None, limit + 1, backwards=False)
    return {"items": [_public(row) for row in rows[:limit]], "more": len(rows) > limit}


def page_request(data) -> dict:
    """`after`, `before` or `last` from a page's parameters, as review_page takes them."""
    sort = parse_sort(data.get("sort"))
    request = {"sort": sort}
    # Read by review_page, in the sort it lists the page in (see _feasible).
    if data.get("after"):
        request["after"] = str(data["after"])
    elif data.get("before"):
        request["before"] = str(data["before"])
    elif data.get("last") in (True, "1", "true"):
        request["last"] = True
    return request


GROUPS_LIMIT = 50


def identical_groups(filters: ReviewFilters, *, limit: int = GROUPS_LIMIT) -> dict:
    """Pending items that say the same thing, largest groups first: insights of one stream
    and type with the same text; knowledge answers of one stream to the same normalised
    query on the same sources and rules (the same cache key). Each group is one row."""
    pending = dataclasses.replace(filters, status="pending", scope="queue")
    groups = []
    insights = pending.queryset(INSIGHT)
    if insights is not None:
        rows = (
            insights.values("stream_id", "stream__name", "insight_type", "snippet")
            .annotate(count=Count("id"), lowest=Min("confidence"), latest=Max("received_at"))
            .filter(count__gte=2)
            .order_by("-count", "stream_id", "snippet")[:limit]
        )
        groups += [
            _group_row(
                {
                    "kind": INSIGHT,
                    "stream_id": r["stream_id"],
                    "insight_type": r["insight_type"],
                    "text": r["snippet"],
                },
                r,
                r["stream__name"],
                r["insight_type"],
                r["snippet"],
            )
            for r in rows
        ]
    answers = pending.queryset(KNOWLEDGE)
    if answers is not None:
        rows = (
            answers.values("stream_id", "stream__name", "cache_key")
            .annotate(
                count=Count("id"),
                lowest=Min("top_confidence"),
                latest=Max("created_at"),
                text=Max("query_text"),
            )
            .filter(count__gte=2)
            .order_by("-count", "stream_id", "cache_key")[:limit]
        )
        groups += [
            _group_row(
                {"kind": KNOWLEDGE, "stream_id": r["stream_id"], "cache_key": r["cache_key"]},
                r,
                r["stream__name"],
                KnowledgeQuery.REVIEW_TYPE,
                r["text"],
            )
            for r in rows
        ]
    groups.sort(key=lambda group: -group["count"])
    groups = groups[:limit]
    return {
        "items": groups,
        "count": len(groups),
        "count_capped": len(groups) >= limit,
        "position": 0,
        "has_prev": False,
        "has_next": False,
        "first": "",
        "last": "",
        "sort": "count",
    }


def _group_row(group: dict, row: dict, stream: str, insight_type: str, text: str) -> dict:
    digest = hashlib.sha256(json.dumps(group, sort_keys=True).encode()).hexdigest()[:16]
    return {
        "key": f"group:{digest}",
        "kind": "group",
        "group": group,
        "id": 0,
        "count": row["count"],
        "stream": stream,
        "insight_type": insight_type,
        "snippet": text,
        "confidence": row["lowest"],
        "received_at": iso(row["latest"]),
        "status": "pending",
        "interaction_id": "",
    }


def group_keys(group: dict, filters: ReviewFilters) -> list[str]:
    """The keys of the pending items of one group (as `identical_groups` described it), within
    what `filters` let the viewer see."""
    kind = group.get("kind")
    pending = dataclasses.replace(filters, status="pending", scope="queue")
    queryset = pending.queryset(kind) if kind in (INSIGHT, KNOWLEDGE) else None
    if queryset is None:
        raise ValidationError("That group is not one of the queue's.")
    if kind == INSIGHT:
        queryset = queryset.filter(
            stream_id=group.get("stream_id"),
            insight_type=group.get("insight_type"),
            snippet=group.get("text"),
        )
    else:
        queryset = queryset.filter(
            stream_id=group.get("stream_id"), cache_key=group.get("cache_key")
        )
    return [f"{kind}:{pk}" for pk in queryset.order_by("pk").values_list("pk", flat=True)]
