"""Full-text search over what officers review, with stemming and ranking: "cards" finds
"card numbers", every word must be there, in any order and case, and the best matches can
come first. It searches an item's text, its correction and its reviewer's note; a search
that is a conversation's id finds that conversation's items instead.

PostgreSQL: Django's SearchVector / SearchQuery / SearchRank with the English configuration,
through the GIN index of migration streams 0025 (built from `vector`, so they match).

SQLite: the FTS5 tables of the same migration (Porter stemmer), ranked by bm25, read in the
order that suits what is asked (`how`), since SQLite's planner cannot tell:
- "count" and "rank": from the search index, each match's item looked up by its id (a count
  stops at its cap; ranking sorts the matches);
- "scan" (a page in the queue's order): the same, unless the words are common (more than
  COMMON matches): then the queue's index is walked in order, each item checked against the
  matches, which finds a page's 50 rows long before the matches would be sorted."""

import re

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connections
from django.db.models import F, FloatField, Value
from django.db.models.functions import Cast

from streams import searchindex
from streams.live import INSIGHT, KNOWLEDGE

CONFIG = "english"
# What is searched of each kind, and the field that holds its conversation id.
SEARCHED = {
    INSIGHT: (("snippet", "corrected_text", "review_note"), "interaction_id"),
    KNOWLEDGE: (("query_text", "corrected_text", "review_note"), "conversation_id"),
}
# The annotation a ranked queryset carries (the queue's "best match" sort reads it).
RANK = "search_rank"
# Past this many matches, words are common: a page walks the queue's index instead, and
# the best matches are not sorted out of them (ranking every match would take seconds).
COMMON = 5_000
WORD = re.compile(r"\w+")


def vector(kind: str) -> SearchVector:
    columns, _ = SEARCHED[kind]
    return SearchVector(*columns, config=CONFIG)


def fts5_query(search: str) -> str:
    """Every word of `search` as an FTS5 string (quoted: no word is an operator)."""
    return " ".join(f'"{word}"' for word in WORD.findall(search))


class Facts:
    """What a search is, read once and kept: a page reads its rows, its count and its place
    with the same search, each of which would otherwise ask again whether it names a
    conversation and whether its words are common (per kind of item)."""

    def __init__(self, search: str, db: str = "default"):
        self.search, self.db = search, db
        self._known: dict = {}

    def _once(self, name: str, kind: str, read) -> bool:
        if (name, kind) not in self._known:
            self._known[name, kind] = read()
        return self._known[name, kind]

    def names_conversation(self, model, kind: str) -> bool:
        _, id_field = SEARCHED[kind]
        rows = model.objects.using(self.db).filter(**{id_field: self.search})
        return self._once("conversation", kind, rows.exists)

    def common(self, model, kind: str) -> bool:
        """Whether more than COMMON items of `model` hold every word (a count that stops
        there, read from the search index)."""
        return self._once("common", kind, lambda: self._count(model, kind) > COMMON)

    def _count(self, model, kind: str) -> int:
        if connections[self.db].vendor == "postgresql":
            query = SearchQuery(self.search, config=CONFIG)
            found = model.objects.using(self.db).alias(search_vector=vector(kind))
            found = found.filter(search_vector=query)
        else:
            words = fts5_query(self.search)
            if not words:
                return 0
            found = _entries(model, self.db).filter(document__match=words)
        return found[: COMMON + 1].count()


def matching(queryset, kind: str, search: str, *, how: str = "scan", facts: Facts | None = None):
    """The rows of `queryset` whose text holds every word of `search` (or, when `search` is
    a conversation's id, that conversation's rows); with `how="rank"`, each with its rank
    (RANK, higher is better). `facts`: what is known of this search already."""
    _, id_field = SEARCHED[kind]
    model = queryset.model
    facts = facts or Facts(search, queryset.db)
    if facts.names_conversation(model, kind):
        return unranked(queryset.filter(**{id_field: search}), how)
    if connections[queryset.db].vendor == "postgresql":
        query = SearchQuery(search, config=CONFIG)
        found = queryset.alias(search_vector=vector(kind)).filter(search_vector=query)
        if how != "rank":
            return found
        # In double precision: a `real` read back as a Python float is not the value the
        # database compares the next page's cursor with.
        return found.annotate(**{RANK: Cast(SearchRank(vector(kind), query), FloatField())})
    words = fts5_query(search)
    if not words:
        return unranked(queryset.none(), how)
    if how == "scan" and facts.common(model, kind):
        # `id + 0`: not the primary key to SQLite, so it walks the queue's index.
        ids = _entries(model, queryset.db).filter(document__match=words).values("item")
        return queryset.alias(plain_id=F("id") + 0).filter(plain_id__in=ids)
    found = queryset.filter(search_entry__document__match=words)
    if how != "rank":
        return found
    return found.annotate(**{RANK: -F("search_entry__rank")})


def _entries(model, db: str):
    return model._meta.get_field("search_entry").related_model.objects.using(db)


def unranked(queryset, how: str):
    """`queryset` as `matching` gives rows it does not rank (nothing searched, or a
    conversation id): with RANK 0 when ranked."""
    if how != "rank":
        return queryset
    return queryset.annotate(**{RANK: Value(0.0, output_field=FloatField())})


async def statistics_refresher(worker: str) -> None:
    """(A stream worker task.) Refresh SQLite's planner statistics on the searched tables
    every STATISTICS_SECONDS (streams.searchindex)."""
    from audit.trail.periodic import every_period

    await every_period(
        "search-statistics", searchindex.STATISTICS_SECONDS, worker, searchindex.refresh_statistics
    )
