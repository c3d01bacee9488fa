"""What an officer's decision (or a rule's) records, shared by insights and knowledge answers."""

from django.conf import settings
from django.db import models

from streams.privacy.subjects import commitment


class ReviewQuerySet(models.QuerySet):
    """The review states by name, for insights and knowledge answers alike. A knowledge
    query no agent saw (a console or warming query, a failure) has no review status: it is
    not in the queue at all."""

    def for_review(self):
        return self.exclude(review_status="")

    def pending(self):
        return self.filter(review_status=Reviewable.ReviewStatus.PENDING)

    def decided(self):
        return self.for_review().exclude(review_status=Reviewable.ReviewStatus.PENDING)

    def unfiltered(self):
        """What no rule recorded as filtered (pending, or decided by a person or rule)."""
        return self.exclude(review_status=Reviewable.ReviewStatus.FILTERED)

    def in_status(self, status: str):
        """One review status, or every item for review with "all"."""
        return self.for_review() if status == "all" else self.filter(review_status=status)

    # Claims: an item is held by one officer until its claim runs out.

    def free(self, now):
        """Claimed by nobody, or by somebody whose claim ran out."""
        return self.filter(models.Q(claimed_by=None) | models.Q(claimed_until__lt=now))

    def claimable_by(self, user, now):
        """What `user` may claim or decide: free, or already theirs."""
        return self.filter(
            models.Q(claimed_by=None) | models.Q(claimed_until__lt=now) | models.Q(claimed_by=user)
        )

    def claimed_by_user(self, user, now):
        return self.filter(claimed_by=user, claimed_until__gte=now)


class Reviewable(models.Model):
    """What an officer's decision (or a rule's) records: insights and knowledge answers."""

    class ReviewStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        FILTERED = "filtered", "Filtered"

    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_reason_code = models.CharField("reason code", max_length=40, blank=True)
    review_note = models.TextField("note", blank=True)
    review_rule = models.CharField(
        "decided by rule", max_length=200, blank=True, help_text="Set for automatic decisions."
    )
    corrected_text = models.TextField(
        "corrected text",
        blank=True,
        help_text="An officer's correction, approved in place of the text as received "
        "(which is kept).",
    )
    # The page's own id of the decision: a decision resent after a reconnect is recognised,
    # not applied twice.
    review_decision_id = models.CharField(max_length=64, blank=True, editable=False)
    # The version of the setting that judged the item as it arrived (its stream's
    # confidence matrix, a knowledge stream's thresholds): the rule in force at the time.
    rule_version = models.ForeignKey(
        "streams.ConfigVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    # When the deciding officer first opened the item: the start of their decision time.
    review_opened_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Work shared, not raced: an officer (or a lead, for them) claims an item for a while.
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The lead who assigned the item, when it was assigned rather than claimed.",
    )
    claim_deferred_at = models.DateTimeField(
        null=True, blank=True, help_text="Skipped: it comes after the claim's other items."
    )

    # The values that end a claim (a release, a decision).
    UNCLAIMED = {
        "claimed_by": None,
        "claimed_until": None,
        "claim_assigned_by": None,
        "claim_deferred_at": None,
    }

    class Meta:
        abstract = True

    @property
    def original_text(self) -> str:
        """The text officers review (an insight's snippet, a knowledge answer's query)."""
        raise NotImplementedError

    def audit_snapshot(self) -> dict:
        return {
            "review_status": self.review_status,
            "reviewed_by": self.reviewed_by.get_username() if self.reviewed_by_id else None,
            "reviewed_at": self.reviewed_at.isoformat() if self.reviewed_at else None,
            "review_reason_code": self.review_reason_code,
            # Officers' words about customer text: a commitment in the trail, the words on
            # the item (where erasure reaches them).
            "review_note": commitment(self.review_note),
            "review_rule": self.review_rule,
            "corrected_text": commitment(self.corrected_text),
        }


class SearchDocument(models.TextField):
    """The hidden column of an SQLite FTS5 table that `MATCH` takes (named as the table)."""


@SearchDocument.register_lookup
class Match(models.Lookup):
    """`document__match="words"`: an FTS5 full-text match (SQLite only)."""

    lookup_name = "match"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} MATCH {rhs}", (*lhs_params, *rhs_params)


def search_entry(model_name: str, table: str):
    """The unmanaged model of the FTS5 table indexing `model_name`'s words on SQLite
    (migration streams 0025; PostgreSQL searches through a GIN index and has no such
    table): joined to its item by rowid as `item.search_entry`, matched on `document`,
    ranked by `rank` (FTS5's bm25: lower is better)."""
    meta = type("Meta", (), {"managed": False, "db_table": table, "app_label": "streams"})
    return type(
        f"{model_name}SearchEntry",
        (models.Model,),
        {
            "__module__": "streams.models",
            "__doc__": f"A row of {table}, the SQLite full-text index of {model_name} rows.",
            "item": models.OneToOneField(
                f"streams.{model_name}",
                primary_key=True,
                db_column="rowid",
                db_constraint=False,
                on_delete=models.DO_NOTHING,
                related_name="search_entry",
            ),
            "document": SearchDocument(db_column=table),
            "rank": models.FloatField(),
            "Meta": meta,
        },
    )
