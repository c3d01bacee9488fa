"""Writing an audit entry: who (a person, or a part of the system by name), what, to which
object, before and after, from where. Every package writes through `audit_record`."""

import getpass
import ipaddress
import uuid
from dataclasses import dataclass

from audit.trail import chain
from audit.trail.models import AuditEntry


@dataclass(frozen=True)
class Origin:
    """Where an action came from: the client's address and the request's id."""

    client_address: str | None = None
    request_id: str = ""

    @classmethod
    def from_request(cls, request) -> "Origin":
        if request is None:
            return cls()
        return cls(_address(request.META.get("REMOTE_ADDR")), getattr(request, "request_id", ""))

    @classmethod
    def from_scope(cls, scope) -> "Origin":
        """For WebSocket messages: each gets its own id."""
        client = scope.get("client") or (None, None)
        return cls(_address(client[0]), uuid.uuid4().hex)


def command_actor(command: str) -> str:
    """Who acts when a management command does: the command and the system user running it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container, say)
        user = "an unnamed user"
    return f"{command} (command line) by {user}"


def _address(value) -> str | None:
    try:
        return str(ipaddress.ip_address(value or ""))
    except ValueError:
        return None


def audit_record(
    *,
    action: str,
    actor=None,
    actor_label: str = "",
    obj=None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    before: dict | None = None,
    after: dict | None = None,
    origin: Origin | None = None,
) -> AuditEntry:
    """Append an audit entry to the chain. `actor` is a user; system components give a label."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk or "")
        object_repr = object_repr or str(obj)
    origin = origin or Origin()
    user = actor if actor is not None and actor.is_authenticated else None
    return chain.append(
        AuditEntry(
            actor=user,
            actor_label=actor_label or (user.get_username() if user is not None else "system"),
            action=action,
            object_type=object_type,
            object_id=object_id,
            object_repr=object_repr[:200],
            before=before,
            after=after,
            client_address=origin.client_address,
            request_id=origin.request_id,
        )
    )
