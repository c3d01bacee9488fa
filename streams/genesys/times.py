"""Times in and out of assistgov: ISO-8601 in UTC with a Z, to the millisecond (exports,
messages, webhooks, Genesys cursors), and back."""

from datetime import UTC, datetime
from typing import Any


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time (naive ones are UTC), or None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def from_timestamp(seconds: float) -> datetime:
    """A POSIX timestamp (time.time()) as an aware UTC time."""
    return datetime.fromtimestamp(seconds, tz=UTC)
