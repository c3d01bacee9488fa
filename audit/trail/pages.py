"""The audit trail as people read it: filtered by category, actor, action, object and time,
newest first, a page at a time, with runs of system records folded into one line.

The page, its CSV link and the CSV export read the same filters (`TrailFilters`), so a
download holds exactly what the page showed (every page of it)."""

from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audit.trail import diffs
from audit.trail.categories import Category, category_of, category_q, not_system_q
from audit.trail.models import AuditEntry
from audit.trail.words import action_words, object_kind

PAGE_SIZE = 50
ALL = "all"  # every category, system activity included
EXCEPT_SYSTEM = "except-system"  # the page's default: what people did and access
TEXT_MAX = 200


CATEGORY_CHOICES = [
    (EXCEPT_SYSTEM, "Everything but system activity"),
    (ALL, "Everything"),
    *Category.choices,
]


@dataclass(frozen=True)
class TrailFilters:
    category: str = EXCEPT_SYSTEM  # or ALL, or one Category
    actor: str = ""
    action: str = ""
    object: str = ""
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(cls, data, *, default_category: str = EXCEPT_SYSTEM) -> "TrailFilters":
        """From a query string (ValidationError naming the parameter if one is wrong).
        Times without an offset are in the reader's time zone."""
        category = (data.get("category") or "").strip() or default_category
        if category not in dict(CATEGORY_CHOICES):
            raise ValidationError(
                f"category {category[:40]!r} is not one of " + ", ".join(dict(CATEGORY_CHOICES))
            )
        text = {}
        for name in ("actor", "action", "object"):
            value = (data.get(name) or "").strip()
            if len(value) > TEXT_MAX:
                raise ValidationError(f"{name}: {TEXT_MAX} characters at most")
            text[name] = value
        since, until = _time(data.get("since"), "since"), _time(data.get("until"), "until")
        if since and until and since > until:
            raise ValidationError("since is after until: swap them")
        return cls(category=category, since=since, until=until, **text)

    @property
    def hides_system(self) -> bool:
        return self.category == EXCEPT_SYSTEM

    def apply(self, queryset, *, categories: bool = True):
        if categories and self.category == EXCEPT_SYSTEM:
            queryset = queryset.filter(not_system_q())
        elif categories and self.category != ALL:
            queryset = queryset.filter(category_q(self.category))
        if self.actor:
            queryset = queryset.filter(actor_label__iexact=self.actor)
        if self.action:
            queryset = queryset.filter(action=self.action)
        if self.object:
            queryset = queryset.filter(
                Q(object_id=self.object[:64]) | Q(object_repr__icontains=self.object)
            )
        if self.since:
            queryset = queryset.filter(created_at__gte=self.since)
        if self.until:
            queryset = queryset.filter(created_at__lt=self.until)
        return queryset

    def hidden_count(self) -> int:
        """How many system records the default view leaves out (0 when it shows them)."""
        if not self.hides_system:
            return 0
        system = AuditEntry.objects.filter(category_q(Category.SYSTEM))
        return self.apply(system, categories=False).count()

    def query(self, **changes) -> dict[str, str]:
        """These filters as query parameters (times as ISO 8601 with their offset), for
        links: the next page, the same view with system activity, the CSV."""
        values = {
            "category": self.category,
            "actor": self.actor,
            "action": self.action,
            "object": self.object,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            **changes,
        }
        return {name: value for name, value in values.items() if value}

    @staticmethod
    def raw_form(data) -> dict[str, str]:
        """What was typed, as typed, for a page that says what is wrong with it."""
        names = ("category", "actor", "action", "object", "since", "until")
        return {name: str(data.get(name, ""))[:TEXT_MAX] for name in names}

    def form_values(self) -> dict[str, str]:
        """For the page's inputs: times in the reader's zone, as a datetime-local input takes."""
        return {
            "category": self.category,
            "actor": self.actor,
            "action": self.action,
            "object": self.object,
            "since": _local_input(self.since),
            "until": _local_input(self.until),
        }


def _time(value, name) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValidationError(
            f"{name} {value[:40]!r} is not a date and time, such as 2026-11-30T09:00"
        )
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_current_timezone())
    return parsed


def _local_input(value: datetime | None) -> str:
    return f"{timezone.localtime(value):%Y-%m-%dT%H:%M}" if value else ""


@dataclass
class Line:
    """One line of the page: an entry, or a fold of consecutive system records alike."""

    entries: list[AuditEntry] = field(default_factory=list)

    @property
    def first(self) -> AuditEntry:
        return self.entries[0]

    @property
    def folded(self) -> bool:
        return len(self.entries) > 1

    @property
    def actor(self) -> str:
        """Who, for a fold: the one actor, or the first and how many others."""
        names = list(dict.fromkeys(entry.actor_label for entry in self.entries))
        if len(names) == 1:
            return names[0]
        return f"{names[0]} and {len(names) - 1} other{'s' if len(names) > 2 else ''}"


def page(filters: TrailFilters, *, before: int | None = None, size: int = PAGE_SIZE):
    """The newest `size` entries older than entry `before`, and whether there are more."""
    queryset = filters.apply(AuditEntry.objects.all()).order_by("-id")
    if before is not None:
        queryset = queryset.filter(id__lt=before)
    entries = list(queryset[: size + 1])
    return entries[:size], len(entries) > size


def lines(entries: list[AuditEntry]) -> list[Line]:
    """Consecutive system records of the same action fold into one line (automatic
    searches name their insight in the actor, so the actor may differ); every other entry
    is a line of its own."""
    out: list[Line] = []
    for entry in entries:
        entry.category = category_of(entry.action)
        previous = out[-1].first if out else None
        if (
            previous is not None
            and entry.category == Category.SYSTEM
            and previous.category == Category.SYSTEM
            and previous.action == entry.action
        ):
            out[-1].entries.append(entry)
        else:
            out.append(Line([entry]))
    return out


def describe(entry: AuditEntry) -> dict:
    """What a person reads for an entry."""
    return {
        "what": action_words(entry.action),
        "category": Category(category_of(entry.action)).label,
        "object_kind": object_kind(entry.object_type) if entry.object_type else "",
        "changes": diffs.field_changes(entry.before, entry.after),
    }


def known_actions() -> list[tuple[str, str]]:
    """Every action the trail holds, with its words, for the action filter."""
    actions = AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct()
    return [(action, f"{action_words(action)} ({action})") for action in actions]
