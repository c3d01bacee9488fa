"""What admins do to configuration, as one function each: the admin's actions, the commands
and the worker call these, and none of them does the work itself."""

from django.conf import settings
from django.db import transaction

from streams import ports
from streams.config import versions
from streams.config.models import StreamConfig


def config_change_report(*, obj, verb: str, before, after, actor, source: str, request=None):
    """Tell the audit trail that a person (or a command on their behalf, or a system part)
    changed `obj`: `before` and `after` are its audit snapshots (None for create / delete).
    A versioned setting gets its next version with the same change."""
    versions.on_change(obj, after, actor=actor, source=source)
    ports.governance().config_changed(
        obj=obj, verb=verb, before=before, after=after, actor=actor, source=source, request=request
    )


def stream_start(*, stream_ids, by, source: str = "admin", request=None) -> int:
    """Enable these streams (the worker connects them); returns how many were stopped."""
    return _streams_enable(stream_ids, True, by=by, source=source, request=request)


def stream_stop(*, stream_ids, by, source: str = "admin", request=None) -> int:
    """Disable these streams (the worker stores their buffers and disconnects them); returns
    how many were running."""
    return _streams_enable(stream_ids, False, by=by, source=source, request=request)


def _streams_enable(stream_ids, enabled: bool, *, by, source: str, request) -> int:
    # Stopping stays immediate under four-eyes (an emergency stop by one admin), and says so.
    stop_verb = "emergency_stop" if settings.FOUR_EYES else "stop"
    changed = 0
    with transaction.atomic():
        locked = StreamConfig.objects.select_for_update().filter(pk__in=stream_ids)
        for stream in locked.exclude(enabled=enabled):
            before = stream.audit_snapshot()
            stream.enabled = enabled
            stream.save(update_fields=["enabled", "updated_at"])
            config_change_report(
                obj=stream,
                verb="start" if enabled else stop_verb,
                before=before,
                after=stream.audit_snapshot(),
                actor=by,
                source=source,
                request=request,
            )
            changed += 1
    return changed
