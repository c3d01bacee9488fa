"""Template filters that turn values into words a person reads."""

from datetime import datetime, timedelta

from django import template

from audit import formats

register = template.Library()


@register.filter
def duration(value) -> str:
    """A timedelta in whole minutes or hours: "15 minutes", "1 hour"."""
    if not isinstance(value, timedelta):
        return ""
    minutes = max(1, round(value.total_seconds() / 60))
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@register.filter
def people_time(value, precision: str = "") -> str:
    """2026-11-30 10:45 CET: the user's time zone, with its name (of a time or ISO text);
    `|people_time:"seconds"` adds the seconds."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return formats.people_time(value, seconds=precision == "seconds")


@register.filter
def per_bucket(minutes) -> str:
    """A chart's bucket length: "per minute", "per 15 minutes", "per 3 hours", "per day"."""
    if not minutes:
        return ""
    if minutes % 1440 == 0:
        days = minutes // 1440
        return "per day" if days == 1 else f"per {days} days"
    if minutes % 60 == 0:
        hours = minutes // 60
        return "per hour" if hours == 1 else f"per {hours} hours"
    return "per minute" if minutes == 1 else f"per {minutes} minutes"
