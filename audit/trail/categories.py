"""What kind of act an audit entry records, read from its action alone.

Every entry keeps its place in the one chain; the category only decides where people look
for it. It is a function of the action (which the entry's hash covers), so it needs no
column of its own and cannot be changed apart from the entry. The rules are tried in order;
the first that matches decides:

1. system activity: what the product does by itself, at volume (rule decisions per batch,
   knowledge queries, streams starting and stopping, the daily chain verification);
2. access and security: sign-in and its failures, refusals, downloads, reading the trail,
   and what the retention purge removed;
3. people's decisions: approving, rejecting, correcting, claiming, assigning work;
4. configuration: everything else (what admins create, change, delete, start and stop)."""

from functools import reduce
from operator import or_

from django.db import models
from django.db.models import Q


class Category(models.TextChoices):
    DECISIONS = "decisions", "People's decisions"
    CONFIGURATION = "configuration", "Configuration"
    SECURITY = "security", "Access and security"
    SYSTEM = "system", "System activity"


SYSTEM_ACTIONS = frozenset(
    {
        *("insight.auto_decide", "insight.not_stored", "knowledge.query", "audit.verify"),
        *("insight.expire_pending", "knowledge.expire_pending", "privacy.redact"),
    }
)
SYSTEM_PREFIXES = ("stream.run_",)
# What leaves assistgov (downloads, verdicts sent to Genesys) is read with access and security.
SECURITY_PREFIXES = (
    *("security.", "export.", "audit.", "retention.", "genesys_feedback."),
    "privacy.",  # finding a data subject, revealing an original, erasing a conversation
)


DECISION_VERBS = (
    *("approve", "reject", "correct", "claim", "release", "skip", "assign"),
    *("give", "rule", "overrule"),  # second reviews, rulings, an item taking a ruling
)


def _any(lookup: str, values) -> Q:
    return reduce(or_, (Q(**{lookup: value}) for value in values))


_SYSTEM = Q(action__in=sorted(SYSTEM_ACTIONS)) | _any("action__startswith", SYSTEM_PREFIXES)
_SECURITY = _any("action__startswith", SECURITY_PREFIXES)
_DECISIONS = _any("action__endswith", [f".{verb}" for verb in DECISION_VERBS])


def category_of(action: str) -> Category:
    if action in SYSTEM_ACTIONS or action.startswith(SYSTEM_PREFIXES):
        return Category.SYSTEM
    if action.startswith(SECURITY_PREFIXES):
        return Category.SECURITY
    if action.rsplit(".", 1)[-1] in DECISION_VERBS and "." in action:
        return Category.DECISIONS
    return Category.CONFIGURATION


def category_q(category: str) -> Q:
    """The entries of `category`, as a filter the database applies (the same rules, in the
    same order, as `category_of`)."""
    if category == Category.SYSTEM:
        return _SYSTEM
    if category == Category.SECURITY:
        return _SECURITY & ~_SYSTEM
    if category == Category.DECISIONS:
        return _DECISIONS & ~_SECURITY & ~_SYSTEM
    if category == Category.CONFIGURATION:
        return ~_DECISIONS & ~_SECURITY & ~_SYSTEM
    raise ValueError(f"no audit category {category!r}")


def not_system_q() -> Q:
    """The default view: everything people did or that touched access."""
    return ~_SYSTEM
