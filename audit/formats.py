"""How values read to a person: one date-time format, with its zone."""

from datetime import datetime

from django.utils import timezone


def people_time(value: datetime | None) -> str:
    """`2026-11-30 10:45 UTC`: the display time zone's time, to the minute, with the zone."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"
