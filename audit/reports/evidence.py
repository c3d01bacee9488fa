"""The evidence pack: one signed ZIP that shows a supervisor, for a period, that the AI
assistance was overseen by people, what they and the rules decided, what changed in the
system, what went wrong, how long records are kept and that the trail is intact.

Every member is written in a stream (bounded memory at any size) while its SHA-256 is
taken; the manifest beside the ZIP names each member's digest and is signed like the audit
exports (audit.trail.signing), so `verify_export PACK.zip PACK.zip.manifest.json` (or the
standalone verifier) says which member, if any, was changed.
"""

import csv
import hashlib
import io
import json
import platform
import zipfile
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import django
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.models import Count, Min, Q
from django.template.loader import render_to_string
from django.utils import timezone

from audit.formats import people_time
from audit.oversight import figures
from audit.oversight.models import Incident, OversightSettings, SecondReview, StreamSampling
from audit.people.roles import ROLE_PERMISSIONS
from audit.privacy.models import ErasureRequest
from audit.trail import chain, csvfiles, diffs, signing
from audit.trail.models import AuditEntry, LegalHold, RetentionPolicy
from audit.trail.offline import PACK_FORMAT
from audit.trail.record import audit_record
from audit.vocabulary import ReasonCode, type_label, type_labels
from streams.config import changes, versions
from streams.models import (
    ChangeRequest,
    ConfigVersion,
    GenesysConnection,
    GenesysFeedback,
    Insight,
    KnowledgeQuery,
    KnowledgeStream,
    QuarantinedFrame,
    WebhookDelivery,
    WebhookEndpoint,
)
from streams.webhooks import outbox

CHUNK = 2000
MEMBERS = (
    "report.html",
    "system.json",
    "configuration-start.json",
    "configuration-end.json",
    "change-requests.csv",
    "people.csv",
    "decisions.csv",
    "oversight.csv",
    "incidents.csv",
    "retention.csv",
    "audit-trail.csv",
    "verification.json",
)


@dataclass
class Period:
    since: datetime
    until: datetime

    def q(self, field: str) -> Q:
        return Q(**{f"{field}__gte": self.since, f"{field}__lt": self.until})

    def words(self) -> str:
        return f"{people_time(self.since)} to {people_time(self.until)}"


@dataclass
class Summary:
    """The figures report.html shows, each gathered while its member is written."""

    decisions: Counter = field(default_factory=Counter)
    per_day: dict = field(default_factory=dict)  # day -> Counter(people, rules)
    opened_seconds: array = field(default_factory=lambda: array("d"))
    incidents: Counter = field(default_factory=Counter)
    change_requests: Counter = field(default_factory=Counter)
    people: int = 0
    trail_entries: int = 0
    genesys_changes: int = 0
    oversight: dict = field(default_factory=dict)
    verification: dict = field(default_factory=dict)
    retention: dict = field(default_factory=dict)


def generate(
    path: Path, *, since: datetime, until: datetime, actor=None, actor_label="", progress=None
) -> dict:
    """Write the pack to `path` and its signed manifest beside it; returns the manifest.
    `progress(member_name, done, total)` is told as each member starts."""
    signing.private_key()  # refuse at once, before any work, when there is no key
    period = Period(since, until)
    summary = Summary()
    writers = {
        "system.json": lambda: _json(system(period)),
        "configuration-start.json": lambda: _json(configuration_at(period.since)),
        "configuration-end.json": lambda: _json(configuration_at(period.until)),
        "change-requests.csv": lambda: change_requests_csv(period, summary),
        "people.csv": lambda: people_csv(period, summary),
        "decisions.csv": lambda: decisions_csv(period, summary),
        "oversight.csv": lambda: oversight_csv(period, summary),
        "incidents.csv": lambda: incidents_csv(period, summary),
        "retention.csv": lambda: retention_csv(period, summary),
        "audit-trail.csv": lambda: trail_csv(period, summary),
        "verification.json": lambda: _json(verification(summary)),
    }
    members = []
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as pack:
        for done, (name, chunks) in enumerate(writers.items()):
            if progress:
                progress(name, done, len(MEMBERS))
            members.append(_member(pack, name, chunks()))
        if progress:
            progress("report.html", len(writers), len(MEMBERS))
        members.insert(0, _member(pack, "report.html", [report_html(period, summary, members)]))
    manifest = signing.sign(
        {
            "file": path.name,
            "file_format": "assistgov evidence pack (ZIP)",
            "sha256": signing.file_digest(path),
            "bytes": path.stat().st_size,
            "period": {"since": _iso(since), "until": _iso(until)},
            "members": members,
            "chain": summary.verification,
            "created_at": _iso(timezone.now()),
        },
        PACK_FORMAT,
    )
    manifest_path = path.with_name(path.name + ".manifest.json")
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), "utf-8")
    with transaction.atomic():
        # Endpoints that keep packs elsewhere get the signed manifest (the ZIP stays here).
        outbox.enqueue(WebhookEndpoint.Event.EVIDENCE_PACK, [{**manifest, "path": str(path)}])
        _record(manifest, manifest_path, path, period, actor, actor_label)
    return manifest


def _record(manifest, manifest_path, path, period, actor, actor_label) -> None:
    # The pack's own record: a later trail proves which packs were made, and their digests.
    audit_record(
        action="export.evidence_pack",
        actor=actor,
        actor_label=actor_label,
        object_type="audit.evidencepack",
        object_id=manifest["sha256"][:64],
        object_repr=f"Evidence pack {period.words()}",
        after={
            "file": path.name,
            "sha256": manifest["sha256"],
            "manifest_sha256": hashlib.sha256(manifest_path.read_bytes()).hexdigest(),
            "period": manifest["period"],
            "members": len(manifest["members"]),
        },
    )


def _member(pack: zipfile.ZipFile, name: str, chunks: Iterable[str]) -> dict:
    digest, size = hashlib.sha256(), 0
    with pack.open(name, "w", force_zip64=True) as out:
        for chunk in chunks:
            data = chunk.encode("utf-8")
            digest.update(data)
            size += len(data)
            out.write(data)
    return {"name": name, "sha256": digest.hexdigest(), "bytes": size}


def _json(value) -> list[str]:
    return [json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n"]


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def _csv(header: list[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """CSV text in chunks: a BOM and header first, every cell neutralised (no formulas)."""
    yield csvfiles.BOM + _lines([header])
    batch = []
    for row in rows:
        batch.append([csvfiles.neutralise(value) for value in row])
        if len(batch) >= CHUNK:
            yield _lines(batch)
            batch = []
    if batch:
        yield _lines(batch)


def _lines(rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


# system.json


def system(period: Period) -> dict:
    perms = {}
    for group in Group.objects.prefetch_related("permissions"):
        if group.name in ROLE_PERMISSIONS or group.permissions.exists():
            perms[group.name] = sorted(p.name for p in group.permissions.all())
    return {
        "system": "assistgov: the governance console beside Genesys Cloud Agent Assist",
        "intended_use": (
            "Agent-assist insights and knowledge answers from Genesys Cloud are stored with "
            "personal data masked, judged by confidence matrices (rules an admin sets under "
            "four-eyes) and reviewed by compliance officers, who approve or reject them; a "
            "share of decisions goes to a second officer, blind. Every act is an entry in a "
            "hash-chained audit trail."
        ),
        "version": _version(),
        "period": {"since": _iso(period.since), "until": _iso(period.until)},
        "deployment": {
            "database": connection.vendor,
            "channel_layer": settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1],
            "four_eyes": settings.FOUR_EYES,
            "time_zone": settings.TIME_ZONE,
            "python": platform.python_version(),
            "django": django.get_version(),
        },
        "genesys": [
            {
                "connection": c.name,
                "flavour": c.get_flavour_display(),
                "api": c.api_url,
                "streams": [
                    {
                        "name": s.name,
                        "enabled": s.enabled,
                        "confidence_matrix": s.confidence_matrix.name,
                        "insight_types": s.insight_types or "every type",
                        "queues_followed": len(s.queue_ids),
                        "agents_followed": len(s.user_ids),
                    }
                    for s in c.streams.select_related("confidence_matrix")
                ],
                "knowledge_streams": [k.name for k in KnowledgeStream.objects.filter(connection=c)],
            }
            for c in GenesysConnection.objects.all()
        ],
        "roles": perms,
    }


def _version() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version("assistgov")
    except PackageNotFoundError:
        number = "unknown"
    return {"assistgov": number, "commit": settings.GIT_COMMIT or "not recorded"}


# configuration-*.json


def configuration_at(moment: datetime) -> dict:
    """Every governance setting as it was at `moment`, read from the trail: each object's
    snapshot after its last change before `moment`, or before its first change after it,
    or (never changed since the trail holds it) as it is now."""
    labels = sorted(changes.MODELS)
    entries = AuditEntry.objects.filter(object_type__in=labels).exclude(object_id="")
    last_before = {}
    for row in (
        entries.filter(created_at__lt=moment)
        .order_by("id")
        .values_list("object_type", "object_id", "after")
        .iterator(CHUNK)
    ):
        last_before[row[0], row[1]] = row[2]
    first_after = {}
    for row in (
        entries.filter(created_at__gte=moment)
        .order_by("-id")
        .values_list("object_type", "object_id", "before")
        .iterator(CHUNK)
    ):
        first_after[row[0], row[1]] = row[2]
    objects: dict[str, list] = {}
    for label in labels:
        model = changes.MODELS[label]
        known = {key for key in (*last_before, *first_after) if key[0] == label}
        state = {key: last_before[key] for key in known if key in last_before}
        state.update({key: first_after[key] for key in known if key not in last_before})
        for obj in model.objects.all():
            state.setdefault((label, str(obj.pk)), obj.audit_snapshot())
        found = [snapshot for _, snapshot in sorted(state.items()) if snapshot is not None]
        if found:
            objects[str(model._meta.verbose_name_plural)] = found
    return {
        "as_of": _iso(moment),
        "method": "read from the audit trail: each setting after its last change before this "
        "time (secrets by reference: a fingerprint or an environment variable's name)",
        "settings": objects,
    }


# change-requests.csv


def change_requests_csv(period: Period, summary: Summary) -> Iterator[str]:
    header = [
        "Request",
        "Made at",
        "Author",
        "Kind",
        "What",
        "Status",
        "Decided by",
        "Decided at",
        "Comment",
        "What changed",
    ]
    requests = (
        ChangeRequest.objects.filter(period.q("created_at"))
        .select_related("decided_by")
        .order_by("id")
    )

    def rows():
        for request in requests.iterator(CHUNK):
            summary.change_requests[request.get_status_display()] += 1
            yield [
                request.pk,
                request.created_at,
                request.author_label,
                request.get_kind_display(),
                request.summary,
                request.get_status_display(),
                request.decided_by.get_username() if request.decided_by_id else "",
                request.decided_at,
                request.comment,
                "; ".join(_change_words(change) for change in request.changes),
            ]

    return _csv(header, rows())


def _change_words(change: dict) -> str:
    if change.get("after") is None:
        return f"{change['label']}: deleted"
    if change.get("before") is None:
        return f"{change['label']}: created"
    moved = [row for row in diffs.field_changes(change["before"], change["after"]) if row.changed]
    return f"{change['label']}: " + ", ".join(
        f"{row.field} {row.how} ({row.old} -> {row.new})" for row in moved
    )


# people.csv


def people_csv(period: Period, summary: Summary) -> Iterator[str]:
    header = [
        "Person",
        "Name",
        "Active",
        "Roles",
        "Account created",
        "Last sign-in",
        "Decisions in the period",
        "Second reviews in the period",
        "Role changes in the period",
        "Training in force at the end",
        "Training overdue",
        "Trainings",
    ]
    users = get_user_model().objects.prefetch_related("groups", "trainings").order_by("username")
    end = timezone.localtime(period.until).date()
    decided = Counter()
    for model in (Insight, KnowledgeQuery):
        for row in (
            model.objects.filter(period.q("reviewed_at"), reviewed_by__isnull=False)
            .values("reviewed_by_id")
            .annotate(n=Count("pk"))
        ):
            decided[row["reviewed_by_id"]] += row["n"]
    second = Counter(
        {
            row["second_by_id"]: row["n"]
            for row in SecondReview.objects.filter(period.q("second_at"))
            .exclude(second_by=None)
            .values("second_by_id")
            .annotate(n=Count("pk"))
        }
    )
    role_changes = Counter()
    for entry in AuditEntry.objects.filter(
        period.q("created_at"), action__in=("security.roles_from_sso", "auth.user.change")
    ).values_list("object_repr", flat=True):
        role_changes[entry] += 1

    def rows():
        for user in users.iterator(CHUNK):
            roles = sorted(group.name for group in user.groups.all())
            if not roles and not user.is_superuser:
                continue
            summary.people += 1
            yield [
                user.get_username(),
                user.get_full_name(),
                "yes" if user.is_active else "no",
                ", ".join(roles) + (" (superuser)" if user.is_superuser else ""),
                user.date_joined,
                user.last_login,
                decided[user.pk],
                second[user.pk],
                role_changes[user.get_username()],
                *_training(list(user.trainings.all()), end),
            ]

    return _csv(header, rows())


def _training(trainings: list, end) -> list:
    """In force at the period's end, overdue (one expired and none in force), and each
    training in words."""
    in_force = [
        t
        for t in trainings
        if t.completed_on <= end and (t.expires_on is None or t.expires_on >= end)
    ]
    overdue = not in_force and any(t.expires_on and t.expires_on < end for t in trainings)
    return [
        "yes" if in_force else "no",
        "yes" if overdue else "no",
        "; ".join(
            f"{t.course}: completed {t.completed_on}, "
            f"{'expires ' + str(t.expires_on) if t.expires_on else 'no expiry'}, "
            f"evidence {t.evidence}"
            for t in trainings
        ),
    ]


# decisions.csv


def decisions_csv(period: Period, summary: Summary) -> Iterator[str]:
    header = [
        "Item",
        "Type",
        "Stream",
        "Decided by",
        "By a rule",
        "Decided at",
        "Outcome",
        "Reason code",
        "Reason",
        "Corrected",
        "Seconds from opening",
        "Judged by",
        "Judged by version",
        "Second review",
        "Second officer's answer",
        "Ruling",
    ]
    labels = type_labels()
    reasons = dict(ReasonCode.objects.values_list("code", "label"))
    reviews = {
        (review["kind"], review["item_id"]): review
        for review in SecondReview.objects.filter(period.q("first_at")).values(
            "kind", "item_id", "outcome", "second_status", "ruling"
        )
    }

    def rows():
        for kind, model, stream_field, type_of in (
            ("insight", Insight, "stream__name", lambda r: r["insight_type"]),
            ("knowledge", KnowledgeQuery, "stream__name", lambda r: KnowledgeQuery.REVIEW_TYPE),
        ):
            fields = [
                "id",
                stream_field,
                "reviewed_by__username",
                "review_rule",
                "reviewed_at",
                "review_status",
                "review_reason_code",
                "corrected_text",
                "review_opened_at",
                "rule_version__name",
                "rule_version__number",
            ]
            if model is Insight:
                fields.append("insight_type")
            decided = model.objects.filter(period.q("reviewed_at")).exclude(
                review_status__in=("", "pending")
            )
            for row in decided.order_by("reviewed_at", "id").values(*fields).iterator(CHUNK):
                by_rule = bool(row["review_rule"])
                when = row["reviewed_at"]
                opened = row["review_opened_at"]
                seconds = (when - opened).total_seconds() if opened and when >= opened else None
                summary.decisions[("rules" if by_rule else "people", row["review_status"])] += 1
                day = timezone.localtime(when).date()
                summary.per_day.setdefault(day, Counter())["rules" if by_rule else "people"] += 1
                if seconds is not None:
                    summary.opened_seconds.append(seconds)
                review = reviews.get((kind, row["id"]))
                code = row["review_reason_code"]
                yield [
                    f"{kind} {row['id']}",
                    type_label(type_of(row), labels),
                    row[stream_field],
                    row["reviewed_by__username"] or "",
                    row["review_rule"],
                    when,
                    row["review_status"],
                    code,
                    reasons.get(code, ""),
                    "yes" if row["corrected_text"] else "no",
                    round(seconds, 1) if seconds is not None else "",
                    row["rule_version__name"] or "",
                    row["rule_version__number"] or "",
                    review["outcome"] if review else "",
                    review["second_status"] if review else "",
                    review["ruling"] if review else "",
                ]

    return _csv(header, rows())


# oversight.csv


def oversight_csv(period: Period, summary: Summary) -> Iterator[str]:
    found = figures.oversight(period.since, period.until)
    summary.oversight = found
    plan = OversightSettings.current()
    rows = list(figures.csv_rows(found))
    rows.append([])
    rows.append(
        [
            "sampling plan in force at generation",
            "approvals %",
            plan.approval_share,
            "rejections %",
            plan.rejection_share,
            "rule decisions %",
            plan.rule_share,
        ]
    )
    for sampling in StreamSampling.objects.select_related("stream"):
        rows.append(
            [
                f"stream {sampling.stream.name}",
                "approvals %",
                sampling.approval_share,
                "rejections %",
                sampling.rejection_share,
            ]
        )
    rows.extend(
        [
            f"sampling plan version {v.number}",
            v.created_at,
            v.source,
            v.actor_label,
            json.dumps(v.snapshot, sort_keys=True),
        ]
        for v in ConfigVersion.objects.filter(
            model=versions.model_label(type(plan)), object_pk=plan.pk
        ).order_by("number")
    )
    coverage = figures.rule_sampling(period.since, period.until)
    rows.append(
        ["rule decisions in the period", coverage["decided"], "sampled", coverage["sampled"]]
    )
    return _csv(figures.CSV_HEADER, rows)


# incidents.csv

INCIDENT_ACTIONS = {
    "security.lockout": "Sign-in locked out",
    "security.denied": "Request denied",
    "security.denied_summary": "Requests denied (summary)",
    "security.sign_in_failed": "Sign-in failed",
    "audit.chain_broken": "Audit chain broken",
    "stream.run_stop": "Stream stopped",
    "stream.run_channels_full": "New conversations waiting: notification channels full",
}


def incidents_csv(period: Period, summary: Summary) -> Iterator[str]:
    header = ["When", "Kind", "Where", "What", "Count"]

    def grouped(rows, kind: str, where: str, what: str | None):
        for row in rows:
            summary.incidents[kind] += row["n"]
            yield [
                row["first"],
                kind,
                row[where],
                (row[what] or "")[:200] if what else "",
                row["n"],
            ]

    def rows():
        entries = AuditEntry.objects.filter(
            period.q("created_at"), action__in=list(INCIDENT_ACTIONS)
        )
        for when, action, where, after in (
            entries.order_by("id")
            .values_list("created_at", "action", "object_repr", "after")
            .iterator(CHUNK)
        ):
            kind = INCIDENT_ACTIONS[action]
            detail = after if isinstance(after, dict) else {}
            count = detail.get("count") if isinstance(detail.get("count"), int) else 1
            summary.incidents[kind] += count
            yield [when, kind, where, detail.get("reason") or detail.get("problem") or "", count]
        yield from grouped(
            QuarantinedFrame.objects.filter(period.q("received_at"))
            .values("stream__name", "reason")
            .annotate(n=Count("pk"), first=Min("received_at"))
            .order_by("first"),
            "Frames quarantined",
            "stream__name",
            "reason",
        )
        yield from grouped(
            WebhookDelivery.objects.filter(period.q("created_at"), status="failed")
            .values("endpoint__name", "event_type")
            .annotate(n=Count("pk"), first=Min("created_at"))
            .order_by("first"),
            "Webhook deliveries failed",
            "endpoint__name",
            "event_type",
        )
        yield from grouped(
            GenesysFeedback.objects.filter(period.q("created_at"), status="failed")
            .values("kind")
            .annotate(n=Count("pk"), first=Min("created_at"))
            .order_by("first"),
            "Verdicts not sent to Genesys",
            "kind",
            None,
        )
        recorded = Incident.objects.filter(
            Q(occurred_at__lt=period.until)
            & (Q(closed_at__isnull=True) | Q(closed_at__gte=period.since))
        ).order_by("occurred_at")
        for incident in recorded:
            summary.incidents["Serious incidents recorded by people"] += 1
            informed = (
                f"provider informed {people_time(incident.provider_informed_at)}"
                if incident.provider_informed_at
                else "provider not informed"
            )
            yield [
                incident.occurred_at,
                "Serious incident recorded by people",
                incident.affected,
                f"{incident.title}: {incident.what_happened} ({informed}; "
                f"{incident.get_status_display().lower()}; done: {incident.actions or '-'})",
                1,
            ]

    return _csv(header, rows())


# retention.csv


def retention_csv(period: Period, summary: Summary) -> Iterator[str]:
    header = ["What", "When", "Who", "Detail", "Count"]
    policy = RetentionPolicy.current()

    def rows():
        for name, months in policy.audit_snapshot().items():
            yield ["Policy in force", "", "", name.replace("_", " "), months]
        purges = AuditEntry.objects.filter(period.q("created_at"), action__startswith="retention.")
        for created, action, actor, after in purges.order_by("id").values_list(
            "created_at", "action", "actor_label", "after"
        ):
            removed = (after or {}).get("deleted") or (after or {}).get("counts") or {}
            total = (
                sum(v for v in removed.values() if isinstance(v, int))
                if isinstance(removed, dict)
                else ""
            )
            summary.retention["purges"] = summary.retention.get("purges", 0) + 1
            yield ["Purge", created, actor, action, total]
        for erasure in ErasureRequest.objects.filter(period.q("requested_at")).select_related(
            "requested_by", "decided_by"
        ):
            summary.retention["erasures"] = summary.retention.get("erasures", 0) + 1
            counts = erasure.counts if isinstance(erasure.counts, dict) else {}
            yield [
                "Erasure",
                erasure.requested_at,
                erasure.requested_by.get_username(),
                f"{erasure.get_status_display()}; reference {erasure.reference}",
                sum(v for v in counts.values() if isinstance(v, int)),
            ]
        for hold in LegalHold.objects.filter(
            Q(released_at__isnull=True) | Q(released_at__gte=period.since)
        ):
            summary.retention["holds"] = summary.retention.get("holds", 0) + 1
            state = f"released {people_time(hold.released_at)}" if hold.released_at else "active"
            yield [
                "Legal hold",
                hold.placed_at,
                hold.placed_by.get_username() if hold.placed_by_id else "",
                f"{hold.reason} ({state})",
                "",
            ]

    return _csv(header, rows())


# audit-trail.csv and verification.json


def trail_csv(period: Period, summary: Summary) -> Iterator[str]:
    entries = AuditEntry.objects.filter(period.q("created_at"))
    summary.trail_entries = entries.count()
    summary.genesys_changes = (
        entries.filter(action__startswith="genesys_assistant.")
        .exclude(action="genesys_assistant.baseline")
        .count()
    )
    return csvfiles.csv_chunks(csvfiles.AUDIT_EXPORT, entries)


def verification(summary: Summary) -> dict:
    result = chain.verify()
    ends = AuditEntry.objects.order_by("id").values("id", "entry_hash", "created_at")
    first, last = ends.first(), ends.order_by("-id").first()
    summary.verification = {
        "intact": result.intact,
        "entries_checked": result.checked,
        "head": {"id": result.head.entry_id, "entry_hash": result.head.entry_hash}
        if result.head
        else None,
        "first_entry": {"id": first["id"], "created_at": _iso(first["created_at"])}
        if first
        else None,
        "last_entry": {"id": last["id"], "created_at": _iso(last["created_at"])} if last else None,
        "problem": result.problem or None,
        "purges": list(result.purged),
        "rechained": list(result.rechained),
        "checked_at": _iso(timezone.now()),
    }
    return summary.verification


# report.html


def report_html(period: Period, summary: Summary, members: list[dict]) -> str:
    decided = summary.decisions
    people = sum(n for (who, _), n in decided.items() if who == "people")
    rules = sum(n for (who, _), n in decided.items() if who == "rules")
    rejected = sum(n for (who, s), n in decided.items() if who == "people" and s == "rejected")
    officers = summary.oversight.get("officers", [])
    times = sorted(summary.opened_seconds)
    return render_to_string(
        "audit/evidence_report.html",
        {
            "period": period.words(),
            "generated": people_time(timezone.now()),
            "version": _version(),
            "people": people,
            "rules": rules,
            "reject_rate": _percent(rejected / people if people else None),
            "median": _seconds(times[len(times) // 2] if times else None),
            "team": summary.oversight.get("team"),
            "officers": officers,
            "fast": [officer.name for officer in officers if officer.fast_approvals],
            "chart": _chart(summary.per_day),
            "incidents": summary.incidents.most_common(),
            "requests": summary.change_requests.items(),
            "verification": summary.verification,
            "trail_entries": summary.trail_entries,
            "genesys_changes": summary.genesys_changes,
            "people_count": summary.people,
            "retention": summary.retention.items(),
            "members": members,
        },
    )


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _seconds(value) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _chart(per_day: dict) -> dict | None:
    """Decisions per day, people's and rules' stacked: the bars of an inline SVG, at most 40
    units wide each (a short period does not fill the page with one block), with the day
    under each bar when there is room, and the highest count on the scale."""
    if not per_day:
        return None
    days = sorted(per_day)
    top = max(sum(c.values()) for c in per_day.values()) or 1
    width, plot, gap = 640, 140, 2
    bar = max(2, min(40, (width - gap * len(days)) // len(days)))
    bars = []
    for i, day in enumerate(days):
        people = per_day[day]["people"] * plot / top
        rules = per_day[day]["rules"] * plot / top
        bars.append(
            {
                "x": 30 + i * (bar + gap),
                "people_y": f"{plot - people:.1f}",
                "people_h": f"{people:.1f}",
                "rules_y": f"{plot - people - rules:.1f}",
                "rules_h": f"{rules:.1f}",
                "label": f"{day.day}" if bar >= 14 else "",
                "title": f"{day}: {per_day[day]['people']:,} by people, "
                f"{per_day[day]['rules']:,} by rules",
            }
        )
    return {
        "width": width,
        "height": plot + 18,
        "plot": plot,
        "bar": bar,
        "middle": bar / 2,
        "bars": bars,
        "top": f"{top:,}",
        "first": days[0],
        "last": days[-1],
    }
