"""How values read to a person: one date-time format, with its zone."""

from datetime import datetime

from django.utils import timezone


def people_time(value: datetime | None, *, seconds: bool = False) -> str:
    """`2026-11-30 10:45 UTC`: the display time zone's time, to the minute (or the second,
    where order within a minute matters: the audit trail), with the zone."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    shape = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return f"{local.strftime(shape)} {local.tzname()}"
