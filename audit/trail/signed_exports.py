"""The audit trail as files an auditor can check offline: CSV, or JSON lines in the OCSF
API Activity shape for a SIEM, each with a signed manifest (audit.trail.signing).

A file is pinned by its filters and `through` (the newest entry it may hold): entries are
only ever added, so the same parameters give the same bytes, and the manifest, computed by
reading them again, describes the file that was downloaded."""

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from audit.trail import csvfiles, signing
from audit.trail.categories import category_of
from audit.trail.chain import head
from audit.trail.models import AuditEntry
from audit.trail.offline import FILTERS, check_file, scope, selection  # noqa: F401

CHUNK_ROWS = 2000
PARAMETERS = ("category", "actor", "action", "object", "since", "until", "through")


@dataclass(frozen=True)
class Format:
    name: str
    label: str
    extension: str
    content_type: str


FORMATS = {
    "csv": Format("csv", "CSV", "csv", "text/csv; charset=utf-8"),
    "ocsf": Format("ocsf", "OCSF JSON lines (API Activity)", "ocsf.jsonl", "application/x-ndjson"),
}


def parameters(data) -> dict[str, str]:
    """The export's parameters from a query string or options, pinned to the chain's
    current head when no `through` is given."""
    chosen = {name: str(data.get(name) or "") for name in PARAMETERS if data.get(name)}
    if "through" not in chosen:
        current = head()
        chosen["through"] = str(current.entry_id if current else 0)
    return chosen


def queryset(params: dict):
    """The entries (ValidationError when a parameter is wrong)."""
    return csvfiles.audit_queryset({"category": "all", **params})


def chunks(fmt: str, entries) -> Iterator[str]:
    if fmt == "csv":
        yield from csvfiles.csv_chunks(csvfiles.AUDIT_EXPORT, entries)
        return
    read = lambda page: list(page[:CHUNK_ROWS])  # noqa: E731
    for rows in csvfiles.keyset_pages(entries, read, key=lambda entry: entry.pk):
        yield "".join(json.dumps(ocsf(entry), ensure_ascii=False) + "\n" for entry in rows)


# OCSF 1.1 API Activity (class 6003): what an audit action does to its object.
OCSF_ACTIVITIES = {"create": 1, "view": 2, "download": 2, "query": 2, "change": 3, "delete": 4}
OCSF_FAILED = {"sign_in_failed", "denied", "token_refused", "lockout", "chain_broken"}


def ocsf(entry: AuditEntry) -> dict:
    verb = entry.action.rsplit(".", 1)[-1]
    activity = OCSF_ACTIVITIES.get(verb, 99)
    failed = verb in OCSF_FAILED
    return {
        "class_uid": 6003,
        "class_name": "API Activity",
        "category_uid": 6,
        "category_name": "Application Activity",
        "activity_id": activity,
        "type_uid": 600300 + activity,
        "severity_id": 3 if failed else 1,
        "status_id": 2 if failed else 1,
        "time": int(entry.created_at.timestamp() * 1000),
        "actor": {
            "user": {"name": entry.actor_label, "uid": str(entry.actor_id or "")},
        },
        "api": {
            "operation": entry.action,
            "request": {"uid": entry.request_id or str(entry.pk)},
        },
        "src_endpoint": {"ip": entry.client_address} if entry.client_address else {},
        "resources": [
            {"type": entry.object_type, "uid": entry.object_id, "name": entry.object_repr}
        ],
        "metadata": {
            "version": "1.1.0",
            "uid": str(entry.pk),
            "product": {"name": "assistgov", "vendor_name": "assistgov"},
            "logged_time": int(entry.created_at.timestamp() * 1000),
        },
        "unmapped": {
            "category": category_of(entry.action).value,
            "before": entry.before,
            "after": entry.after,
            "prev_hash": entry.prev_hash,
            "entry_hash": entry.entry_hash,
        },
    }


def manifest(fmt: str, params: dict, *, file_name: str) -> dict:
    """Read the export again (the same bytes as the file) and describe it, signed."""
    entries = queryset(params)
    digest, size = hashlib.sha256(), 0
    for chunk in chunks(fmt, entries):
        data = chunk.encode("utf-8")
        digest.update(data)
        size += len(data)
    ends = entries.order_by("id").values("id", "entry_hash", "prev_hash", "created_at")
    first, last = ends.first(), ends.order_by("-id").first()
    through = int(params["through"])
    at_through = (
        AuditEntry.objects.filter(id__lte=through)
        .order_by("-id")
        .values("id", "entry_hash")
        .first()
    )
    return signing.sign(
        {
            "file": file_name,
            "file_format": FORMATS[fmt].label,
            "scope": scope(params),
            "sha256": digest.hexdigest(),
            "bytes": size,
            "rows": entries.count(),
            "parameters": params,
            "first_entry": _end(first),
            "last_entry": _end(last),
            "chain_head_at_export": (
                {"id": at_through["id"], "entry_hash": at_through["entry_hash"]}
                if at_through
                else None
            ),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )


def _end(row) -> dict | None:
    if row is None:
        return None
    return {
        "id": row["id"],
        "entry_hash": row["entry_hash"],
        "prev_hash": row["prev_hash"],
        "created_at": row["created_at"].astimezone(UTC).isoformat(),
    }


def file_name(fmt: str, params: dict) -> str:
    """Named by the newest entry it may hold and a digest of its filters."""
    tag = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return f"assistgov-audit-through-{params['through']}-{tag}.{FORMATS[fmt].extension}"
