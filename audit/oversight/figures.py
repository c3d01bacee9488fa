"""Figures about reviewers' decisions (never about contact-centre agents): how many, how
fast, how often they approve, how often the rules would have decided otherwise, how far a
second officer agrees with them (percent and Cohen's kappa), and rulings won and lost."""

import math
import statistics
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Count, Q

from audit.oversight.models import ITEM_MODELS, OversightSettings, SecondReview
from streams.genesys.scoring import Verdict
from streams.models import Insight, StreamConfig

TOO_FEW = 30  # pairs under which agreement is "too few to tell"
FAST_MIN_DECISIONS = 50
FAST_APPROVAL_RATE = 0.95


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters' answers; None when it is undefined (no pairs, or both
    raters always gave the same one answer, so chance agreement is already complete)."""
    n = len(pairs)
    if not n:
        return None
    observed = sum(first == second for first, second in pairs) / n
    firsts, seconds = Counter(p[0] for p in pairs), Counter(p[1] for p in pairs)
    chance = sum(firsts[c] * seconds[c] for c in firsts.keys() | seconds.keys()) / (n * n)
    if chance == 1:
        return None
    return (observed - chance) / (1 - chance)


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (share 0.5 is the median of an odd count)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(round(share * len(ordered), 9))
    return ordered[min(max(rank, 1), len(ordered)) - 1]


@dataclass
class Agreement:
    pairs: list[tuple[str, str]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.pairs)

    @property
    def percent(self) -> float | None:
        return 100 * sum(a == b for a, b in self.pairs) / self.n if self.pairs else None

    @property
    def kappa(self) -> float | None:
        return cohen_kappa(self.pairs)

    @property
    def words(self) -> str:
        """What people read: '92% agree, kappa 0.71 (n = 64)', or why it cannot be told."""
        if self.n < TOO_FEW:
            return f"Too few to tell (n = {self.n}, needs {TOO_FEW})"
        kappa = self.kappa
        kappa_words = "kappa undefined: one answer only" if kappa is None else f"kappa {kappa:.2f}"
        return f"{self.percent:.0f}% agree, {kappa_words} (n = {self.n})"


@dataclass
class Reviewer:
    name: str
    decisions: int = 0
    approved: int = 0
    # Compact (8 bytes a decision): a million decisions' times fit in a few megabytes.
    seconds: array = field(default_factory=lambda: array("d"))
    rule_checked: int = 0
    rule_differs: int = 0
    agreement: Agreement = field(default_factory=Agreement)
    won: int = 0
    lost: int = 0
    fast_floor: float = 3.0
    # Blind second reviews this person answered in the window (their own oversight work).
    second_reviews: int = 0

    @property
    def approval_rate(self) -> float | None:
        return self.approved / self.decisions if self.decisions else None

    @property
    def median_seconds(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def p90_seconds(self) -> float | None:
        return percentile(self.seconds, 0.9)

    @property
    def rule_differs_share(self) -> float | None:
        return self.rule_differs / self.rule_checked if self.rule_checked else None

    @property
    def fast_approvals(self) -> bool:
        """Quick approvals of nearly everything: the pattern of automation bias."""
        median = self.median_seconds
        return (
            self.decisions >= FAST_MIN_DECISIONS
            and median is not None
            and median < self.fast_floor
            and self.approval_rate > FAST_APPROVAL_RATE
        )


def oversight(since: datetime, until: datetime | None = None) -> dict:
    """Per officer and for the team, over decisions made in [since, until)."""
    floor = OversightSettings.current().fast_seconds
    people: dict[int, Reviewer] = {}
    team = Reviewer("The team", fast_floor=floor)
    names = dict(get_user_model().objects.values_list("pk", "username"))

    def person(user_id) -> Reviewer:
        if user_id not in people:
            people[user_id] = Reviewer(names.get(user_id, f"user {user_id}"), fast_floor=floor)
        return people[user_id]

    matrices = _matrices()
    window = _window("reviewed_at", since, until) & Q(reviewed_by__isnull=False)
    for model in ITEM_MODELS.values():
        fields = ["reviewed_by_id", "review_status", "review_opened_at", "reviewed_at"]
        if model is Insight:
            fields += ["stream_id", "insight_type", "confidence"]
        for row in model.objects.filter(window).values_list(*fields).iterator(2000):
            for reviewer in (person(row[0]), team):
                _count_decision(reviewer, row, matrices)
    _count_second_reviews(since, until, person, team)
    _count_second_reviewers(since, until, person, team)
    return {
        "officers": sorted(people.values(), key=lambda r: r.name),
        "team": team,
        "rules": rules_against_people(since, until),
        "rule_sampling": rule_sampling(since, until),
    }


def _count_second_reviewers(since, until, person, team) -> None:
    """Second reviews are decisions too: counted for whoever answered them."""
    answered = (
        SecondReview.objects.filter(_window("second_at", since, until))
        .exclude(second_by=None)
        .values("second_by_id")
        .annotate(n=Count("pk"))
    )
    for row in answered:
        person(row["second_by_id"]).second_reviews += row["n"]
        team.second_reviews += row["n"]


def rule_sampling(since, until=None) -> dict:
    """What "Rules against people" draws from: the rules' decisions in the window, how many
    were sampled, the share and how often the sampler runs."""
    from audit.oversight.sampling import RULE_SAMPLE_SECONDS

    window = _window("reviewed_at", since, until) & Q(reviewed_by=None) & ~Q(review_rule="")
    decided = Insight.objects.filter(window).count()
    sampled = SecondReview.objects.filter(
        _window("first_at", since, until), source=SecondReview.Source.RULE
    ).count()
    return {
        "decided": decided,
        "sampled": sampled,
        "share": OversightSettings.current().rule_share,
        "every_minutes": RULE_SAMPLE_SECONDS / 60,
    }


def _window(field: str, since: datetime, until: datetime | None) -> Q:
    """`field` in [since, until); no end when `until` is None."""
    window = Q(**{f"{field}__gte": since})
    return window & Q(**{f"{field}__lt": until}) if until is not None else window


def _count_decision(reviewer: Reviewer, row, matrices) -> None:
    _, status, opened, decided = row[:4]
    reviewer.decisions += 1
    reviewer.approved += status == "approved"
    if opened is not None and decided >= opened:
        reviewer.seconds.append((decided - opened).total_seconds())
    if len(row) > 4 and row[4] in matrices:
        verdict, _ = matrices[row[4]].verdict(row[5], row[6])
        if verdict is not Verdict.REVIEW:
            reviewer.rule_checked += 1
            rule_says = "approved" if verdict is Verdict.AUTO_APPROVE else "rejected"
            reviewer.rule_differs += rule_says != status


def _matrices() -> dict:
    streams = StreamConfig.objects.select_related("confidence_matrix").prefetch_related(
        "confidence_matrix__rules"
    )
    return {stream.pk: stream.confidence_matrix.to_matrix() for stream in streams}


def _count_second_reviews(since, until, person, team) -> None:
    reviews = SecondReview.objects.answered().filter(
        _window("first_at", since, until), source=SecondReview.Source.OFFICER
    )
    for review in reviews.only(
        "first_status", "first_by_id", "second_status", "second_by_id", "ruling", "outcome"
    ).iterator(2000):
        pair = (review.first_verdict, review.second_status)
        for reviewer in (person(review.first_by_id), team):
            reviewer.agreement.pairs.append(pair)
        if review.outcome == SecondReview.Outcome.RULED:
            first_won = review.ruling == review.first_verdict
            person(review.first_by_id).won += first_won
            person(review.first_by_id).lost += not first_won
            person(review.second_by_id).won += not first_won
            person(review.second_by_id).lost += first_won


def rules_against_people(since, until=None) -> list[dict]:
    """For each rule that approved or filtered on its own: of its decisions sampled in the
    window, how many officers have reviewed blind, how many of those they would have decided
    the same way, and how many wait for an officer."""
    samples = SecondReview.objects.filter(
        _window("first_at", since, until), source=SecondReview.Source.RULE
    )
    rows = (
        samples.values("first_rule", "first_status")
        .annotate(
            reviewed=Count("pk", filter=~Q(second_status="")),
            agreed=Count("pk", filter=Q(outcome=SecondReview.Outcome.AGREED)),
            waiting=Count("pk", filter=Q(outcome=SecondReview.Outcome.WAITING)),
        )
        .order_by("first_rule", "first_status")
    )
    return [
        {
            "rule": row["first_rule"],
            "decision": "Approved automatically"
            if row["first_status"] == "approved"
            else "Filtered automatically",
            "reviewed": row["reviewed"],
            "agreed": row["agreed"],
            "percent": 100 * row["agreed"] / row["reviewed"] if row["reviewed"] else None,
            "waiting": row["waiting"],
            "enough": row["reviewed"] >= TOO_FEW,
        }
        for row in rows
    ]


CSV_HEADER = [
    "officer",
    "decisions",
    "median_seconds_open_to_decision",
    "p90_seconds_open_to_decision",
    "timed_decisions",
    "approval_rate",
    "rules_would_differ_share",
    "rules_checked",
    "second_review_pairs",
    "second_reviews_answered",
    "percent_agreement",
    "cohen_kappa",
    "agreement",
    "adjudications_won",
    "adjudications_lost",
    "fast_approvals",
]


def csv_rows(figures: dict):
    for reviewer in [*figures["officers"], figures["team"]]:
        agreement = reviewer.agreement
        enough = agreement.n >= TOO_FEW
        yield [
            reviewer.name,
            reviewer.decisions,
            _round(reviewer.median_seconds),
            _round(reviewer.p90_seconds),
            len(reviewer.seconds),
            _round(reviewer.approval_rate, 4),
            _round(reviewer.rule_differs_share, 4),
            reviewer.rule_checked,
            agreement.n,
            reviewer.second_reviews,
            _round(agreement.percent) if enough else None,
            _round(agreement.kappa, 4) if enough else None,
            agreement.words,
            reviewer.won,
            reviewer.lost,
            reviewer.fast_approvals,
        ]


def _round(value, digits: int = 2):
    return None if value is None else round(value, digits)
