"""Configuration drift in Genesys: a stream worker reads each connection's
Agent Assist configuration (streams.config.assistants) on a schedule and records every
difference from the last reading as an audit entry by "Genesys": an assistant added or
removed, its copilot settings or its queues changed. The AI system's own configuration is
then in the same chain as the product's (EU AI Act Art. 12(2))."""

import logging
import re

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.trail.periodic import every_period
from audit.trail.record import audit_record
from streams.config.assistants import assistants_snapshot
from streams.genesys.errors import GenesysError
from streams.models import GenesysAssistants, GenesysConnection

logger = logging.getLogger(__name__)
ACTOR = "Genesys"


def read_connection(connection: GenesysConnection) -> int:
    """Read once; returns how many differences were recorded."""
    previous = GenesysAssistants.objects.filter(connection=connection).first()
    try:
        found = assistants_snapshot(connection)
    except (GenesysError, ValueError) as exc:
        problem = str(exc)[:500]
        if previous is None or previous.problem != problem:
            logger.warning("Genesys assistants of %s cannot be read: %s", connection, problem)
        GenesysAssistants.objects.update_or_create(
            connection=connection,
            defaults={
                "read_at": timezone.now(),
                "problem": problem,
                "assistants": previous.assistants if previous else {},
            },
        )
        return 0
    recorded = 0
    with transaction.atomic():
        if previous is None or (not previous.assistants and previous.problem):
            _record(connection, "baseline", None, None, {"assistants": found})
            recorded = 1
        else:
            before = previous.assistants
            for assistant_id in sorted(set(before) | set(found)):
                old, new = before.get(assistant_id), found.get(assistant_id)
                if old == new:
                    continue
                verb = "create" if old is None else "delete" if new is None else "change"
                _record(connection, verb, assistant_id, old, new)
                recorded += 1
        GenesysAssistants.objects.update_or_create(
            connection=connection,
            defaults={"read_at": timezone.now(), "problem": "", "assistants": found},
        )
    return recorded


def _record(connection, verb, assistant_id, before, after) -> None:
    name = (after or before or {}).get("name") or "Agent Assist configuration"
    audit_record(
        action=f"genesys_assistant.{verb}",
        actor_label=ACTOR,
        object_type="genesys.assistant",
        object_id=(assistant_id or connection.name)[:64],
        object_repr=f"{name} (connection {connection.name})"[:200],
        before=before,
        after=after,
    )


def read_all(stop=None) -> int:
    recorded = 0
    for connection in GenesysConnection.objects.all():
        if stop is not None:
            stop.check()
        recorded += read_connection(connection)
    return recorded


async def genesys_drift_watcher(worker: str) -> None:
    """(A stream worker task.) Read Genesys' assistants every GENESYS_DRIFT_SECONDS."""
    await every_period("genesys-drift", settings.GENESYS_DRIFT_SECONDS, worker, read_all)


def recent_changes(days: int = 30, limit: int = 10) -> list[dict]:
    """What changed in Genesys lately, newest first, in words (the dashboard's card)."""
    from datetime import timedelta

    from audit.trail.diffs import field_changes
    from audit.trail.models import AuditEntry

    entries = AuditEntry.objects.filter(
        action__in=[f"genesys_assistant.{verb}" for verb in ("change", "create", "delete")],
        created_at__gte=timezone.now() - timedelta(days=days),
    ).order_by("-id")[:limit]
    found = []
    for entry in entries:
        verb = entry.action.rsplit(".", 1)[1]
        if verb == "change":
            moved = [row for row in field_changes(entry.before, entry.after) if row.changed]
            words = "; ".join(f"{_words(row.field)}: {row.old} to {row.new}" for row in moved)
        else:
            words = "added in Genesys" if verb == "create" else "removed in Genesys"
        found.append(
            {"at": entry.created_at, "what": entry.object_repr, "words": words, "entry": entry.pk}
        )
    return found


def _words(field: str) -> str:
    """Genesys' field names as words: "copilot: knowledgeAnswerConfig: enabled" reads
    "copilot, knowledge answer config, enabled"."""
    return ", ".join(
        re.sub(r"(?<=[a-z])(?=[A-Z])", " ", part.strip()).lower() for part in field.split(":")
    )
