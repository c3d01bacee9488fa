"""How times leave the system: ISO-8601 in UTC with a Z, in exports, messages and webhooks."""

from datetime import UTC, datetime


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
