"""Entries about reading and refusing: downloads, opening the trail, refused pages, sockets
and tokens (counted per minute for people not signed in: audit.trail.denied)."""

from audit.trail import denied
from audit.trail.record import Origin, audit_record


def record_denied(*, user, where: str, what: str, origin: Origin, role: str = "") -> None:
    """A page, socket or API call refused to `user`: an entry for a signed-in person; for
    someone not signed in, a count in the minute's summary (audit.trail.denied)."""
    signed_in = user is not None and user.is_authenticated
    if not signed_in:
        kind = "review socket handshakes" if where.startswith("WebSocket") else "page requests"
        denied.tally(source=origin.client_address, what=kind, where=where)
        return
    audit_record(
        action="security.denied",
        actor=user,
        object_type="url",
        object_id="",
        object_repr=where[:200],
        after={"address": where[:500], "what": what, "role": role or None},
        origin=origin,
    )


def record_token_refused(*, where: str, reason: str, origin: Origin) -> None:
    """An API call with a missing, unknown or revoked token: counted in the minute's
    summary (the token itself is never kept)."""
    denied.tally(source=origin.client_address, what=f"API calls refused: {reason}", where=where)


def record_download(
    *,
    kind: str,
    what: str,
    parameters: dict,
    actor=None,
    actor_label: str = "",
    origin=None,
    **more,
) -> None:
    """An export was downloaded (in the browser) or written (by a command)."""
    audit_record(
        action="export.download",
        actor=actor,
        actor_label=actor_label,
        object_type="export",
        object_id=kind,
        object_repr=what,
        after={"parameters": parameters, **more},
        origin=origin,
    )


def record_trail_read(*, user, what: str, parameters: dict, origin: Origin) -> None:
    """Someone opened the audit trail (its first page; paging on is the same reading)."""
    audit_record(
        action="audit.view",
        actor=user,
        object_type="audit.trail.chain",
        object_repr=what,
        after={"parameters": parameters},
        origin=origin,
    )
