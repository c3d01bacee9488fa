"""Four-eyes configuration changes: what one governance admin proposes waits, as a change
request, until a second one accepts it; only then is it applied (as a configuration import
of the proposed objects, so it is validated exactly as an import is) and does the worker see
it. A request is checked against the configuration as it is when accepted: if the object
changed meanwhile, the request is stale and cannot be applied.
"""

from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from streams import crypto
from streams.config import versions
from streams.config.documents import ConfigDocument, config_import
from streams.config.models import (
    ChangeRequest,
    ConfidenceMatrix,
    GenesysConnection,
    StreamConfig,
)
from streams.config.services import config_change_report
from streams.genesys.frames import scrub_nul
from streams.knowledge.models import KnowledgeSource, KnowledgeStream
from streams.privacy.models import PrivacySettings
from streams.tokens.models import ApiToken
from streams.webhooks.models import WebhookEndpoint

COMMENT_MAX_LENGTH = 2000

# The objects under four-eyes, by model: the configuration document's section, and the
# field that names an object there.
SECTIONS = {
    GenesysConnection: ("connections", "name"),
    ConfidenceMatrix: ("confidence_matrices", "name"),
    StreamConfig: ("streams", "name"),
    KnowledgeStream: ("knowledge_streams", "name"),
    KnowledgeSource: ("knowledge_sources", "knowledge_base_id"),
}
# Webhook endpoints are not in the configuration document: a change is applied field by
# field, and a new signing secret travels with it encrypted (never in the audit entries).
# Personal data detection is one row, changed the same way.
DIRECT = {
    WebhookEndpoint: ("name", "url", "events", "batch_size", "enabled"),
    PrivacySettings: ("kinds", "phone_regions", "national_ids", "styles"),
}
KEYS = {
    **{model: key for model, (_, key) in SECTIONS.items()},
    WebhookEndpoint: "name",
    PrivacySettings: "name",
}
MODELS = {model._meta.label_lower: model for model in KEYS}
# Governance settings kept by the apps above (retention, oversight, labels, holds) register
# here (`register`): a change is applied from the proposed object's own field values.
GENERIC: set = set()
# Fields a registered model sets itself (not in its form), carried with the change too.
CARRIED: dict = {}
# For a model whose other fields must never travel with a change (a person's password hash,
# their last sign-in), the only fields that do, many-to-many ones (roles) included.
ONLY: dict = {}


def register(
    model, key: str | None, *, carried: tuple[str, ...] = (), only: tuple[str, ...] = ()
) -> None:
    """Put `model`'s admin changes under four-eyes; `key` names an object in labels and
    is unique (None: the model has no such name, one row or anonymous rows); `carried`:
    fields the admin sets that no form shows (an API token's hash, say); `only`: the fields
    a change may set, none other (many-to-many ones by their ids)."""
    GENERIC.add(model)
    KEYS[model] = key
    MODELS[model._meta.label_lower] = model
    CARRIED[model] = carried
    if only:
        ONLY[model] = only


register(ApiToken, "name", carried=("prefix", "token_hash", "created_by"))


class ChangeRefused(Exception):
    """The request cannot be accepted (its author, its state, or a stale configuration)."""


def four_eyes_on() -> bool:
    return settings.FOUR_EYES


def label(model, snapshot: dict) -> str:
    """'Confidence matrix default', as people read it."""
    name = snapshot.get(KEYS[model], "") if KEYS[model] else ""
    return f"{model._meta.verbose_name.capitalize()} {name}".strip()


def change_entry(obj, before: dict | None, after: dict | None) -> dict:
    model = type(obj)
    entry = {
        "label": label(model, after or before or {}),
        "model": model._meta.label_lower,
        "pk": obj.pk if before is not None else None,
        "before": before,
        "after": after,
    }
    if model is WebhookEndpoint and after is not None:
        entry["secret_encrypted"] = obj.secret_encrypted
    if model is GenesysConnection and after is not None and obj.client_secret_encrypted:
        # A secret typed in the form travels encrypted; the trail sees its fingerprint.
        entry["secret_encrypted"] = obj.client_secret_encrypted
    if model in GENERIC and after is not None:
        entry["values"] = _values(obj)
        if model in ONLY:
            entry["m2m"] = {
                field.name: sorted(getattr(obj, field.name).values_list("pk", flat=True))
                for field in model._meta.many_to_many
                if field.name in ONLY[model]
            }
    if after is not None:
        entry["depends"] = _dependencies(obj)
    return entry


def _dependencies(obj) -> list[dict]:
    """The settings `obj` points at (a stream's connection and matrix, say), as they are
    now: a request made from them is stale once one of them changes."""
    found = []
    for field in obj._meta.concrete_fields:
        if not field.many_to_one:
            continue
        target = getattr(obj, field.name, None)
        if target is None or target.pk is None or not hasattr(target, "audit_snapshot"):
            continue
        key = KEYS.get(type(target))
        found.append(
            {
                "model": target._meta.label_lower,
                "pk": target.pk,
                "key": getattr(target, key) if key else None,
                "label": f"{target._meta.verbose_name} {target}",
                "digest": versions.digest(target.audit_snapshot()),
            }
        )
    return found


def _values(obj) -> dict:
    """The proposed object's editable fields as stored (foreign keys by id), as JSON."""
    values = {}
    carried = CARRIED.get(type(obj), ())
    only = ONLY.get(type(obj))
    for field in obj._meta.concrete_fields:
        if field.primary_key or not (field.editable or field.name in carried):
            continue
        if only is not None and field.name not in only:
            continue
        value = getattr(obj, field.attname)
        if value is not None and not isinstance(field, models.JSONField):
            value = field.value_to_string(obj)
        values[field.attname] = value
    return values


def change_request_create(
    *,
    kind: str,
    changes: list[dict],
    author,
    source: str = "admin",
    request=None,
    document: dict | None = None,
) -> ChangeRequest:
    """Record a proposed change; nothing of it is applied. The document imported on
    acceptance is built from the changes' "after" snapshots unless one is given."""
    if document is None:
        document = {}
        for change in changes:
            if change["after"] is not None and MODELS[change["model"]] in SECTIONS:
                section, _ = SECTIONS[MODELS[change["model"]]]
                document.setdefault(section, []).append(_document_entry(change))
    summary = "; ".join(change["label"] for change in changes)[:200] or "No objects"
    user = author if author is not None and author.is_authenticated else None
    with transaction.atomic():
        change_request = ChangeRequest.objects.create(
            kind=kind,
            summary=summary,
            changes=changes,
            document={**document, "version": 1} if document else {},
            author=user,
            author_label=user.get_username() if user else source,
            expires_at=timezone.now() + timedelta(hours=settings.FOUR_EYES_EXPIRY_HOURS),
        )
        _report(change_request, "request", None, user, source, request)
    return change_request


def stream_start_request(*, streams, by, request=None) -> ChangeRequest | None:
    """Under four-eyes: one change request to start these streams (None if all run)."""
    entries = []
    for stream in streams.filter(enabled=False):
        before = stream.audit_snapshot()
        entries.append(change_entry(stream, before, {**before, "enabled": True}))
    if not entries:
        return None
    return change_request_create(
        kind=ChangeRequest.Kind.CHANGE, changes=entries, author=by, request=request
    )


def _document_entry(change: dict) -> dict:
    """An object's entry in the document imported on acceptance, from its "after"
    snapshot. A connection's snapshot names its secret by fingerprint: the document names
    its environment variable instead, and a stored secret travels encrypted beside it."""
    after = change["after"]
    if MODELS[change["model"]] is not GenesysConnection:
        return after
    secret = after.get("client_secret") or ""
    document = {key: value for key, value in after.items() if key != "client_secret"}
    document["client_secret_env"] = secret.removeprefix("env:") if secret[:4] == "env:" else ""
    return document


class _Rollback(Exception):
    pass


def change_request_for_import(data: dict, *, author, source: str) -> ChangeRequest | None:
    """Under four-eyes, a configuration import is one change request (None if it changes
    nothing). It is validated now, by importing it in a transaction that is rolled back,
    so that a document with errors is refused at once (ConfigImportError)."""
    document = ConfigDocument.model_validate(data)
    if any(connection.client_secret for connection in document.connections):
        raise ValidationError(
            "Under four-eyes an import waits for a second admin and is stored until then: "
            "it may not carry a client secret in plain text. Give client_secret_env instead."
        )
    named = [
        (model, getattr(doc, key))
        for model, (section, key) in SECTIONS.items()
        for doc in getattr(document, section)
    ]
    changes = []
    try:
        with transaction.atomic():
            befores = {}
            for model, name in named:
                obj = model.objects.filter(**{KEYS[model]: name}).first()
                befores[model, name] = (obj, obj.audit_snapshot() if obj else None)
            config_import(data, source=source, actor=author)
            for (model, name), (obj, before) in befores.items():
                now = model.objects.get(**{KEYS[model]: name})
                after = now.audit_snapshot()
                if after != before:
                    changes.append(change_entry(obj or now, before, after))
            raise _Rollback
    except _Rollback:
        pass
    if not changes:
        return None
    # Only what the request shows is applied: the objects it changes, as the document has
    # them (the others, re-imported at acceptance, could undo another accepted change).
    changed = {
        (MODELS[c["model"]], (c["after"] or c["before"])[KEYS[MODELS[c["model"]]]]) for c in changes
    }
    document = {
        section: [doc for doc in data.get(section) or [] if (model, doc.get(key)) in changed]
        for model, (section, key) in SECTIONS.items()
    }
    return change_request_create(
        kind=ChangeRequest.Kind.IMPORT,
        changes=changes,
        author=author,
        source=source,
        document={section: docs for section, docs in document.items() if docs},
    )


def change_request_accept(*, change_request: ChangeRequest, by, comment: str = "", request=None):
    """A second admin accepts: the change is applied in the same transaction."""
    comment = _comment(comment)
    expire_overdue()  # first, on its own: a refusal below must not undo it
    with transaction.atomic():
        current = _locked_pending(change_request, by)
        if current.author_id == by.pk:
            raise ChangeRefused("You made this request; a second governance admin must accept it.")
        if problem := stale(current):
            raise ChangeRefused(
                f"{problem} Decline this request and make the change again from the "
                "configuration as it is now."
            )
        _apply(current, by, request)
        _decide(current, ChangeRequest.Status.ACCEPTED, by, comment, "accept", request)
    return current


def change_request_decline(*, change_request: ChangeRequest, by, comment: str, request=None):
    """A second admin declines (a comment says why), or the author withdraws it."""
    comment = _comment(comment)
    expire_overdue()
    with transaction.atomic():
        current = _locked_pending(change_request, by)
        if current.author_id == by.pk:
            _decide(current, ChangeRequest.Status.WITHDRAWN, by, comment, "withdraw", request)
            return current
        if not comment:
            raise ValidationError("Say why you decline it: the author reads your comment.")
        _decide(current, ChangeRequest.Status.DECLINED, by, comment, "decline", request)
    return current


def expire_overdue(now=None) -> int:
    """Mark requests past their time as expired (each with its audit entry)."""
    now = now or timezone.now()
    expired = 0
    for change_request in ChangeRequest.objects.pending().filter(expires_at__lt=now):
        with transaction.atomic():
            updated = (
                ChangeRequest.objects.pending()
                .filter(pk=change_request.pk)
                .update(status=ChangeRequest.Status.EXPIRED, decided_at=now)
            )
            if updated:
                before = change_request.audit_snapshot()
                change_request.refresh_from_db()
                _report(change_request, "expire", before, None, "four-eyes", None)
                expired += 1
    return expired


def stale(change_request: ChangeRequest) -> str:
    """Why the configuration no longer is what the request was made from, or ""."""
    for change in change_request.changes:
        model = MODELS[change["model"]]
        if change["before"] is None:
            key = KEYS[model]
            if key and model.objects.filter(**{key: change["after"][key]}).exists():
                return f"{change['label']} has been created since."
            continue
        obj = model.objects.filter(pk=change["pk"]).first()
        if obj is None:
            return f"{change['label']} has been deleted since."
        if obj.audit_snapshot() != change["before"]:
            return f"{change['label']} has been changed since."
    # What the request itself creates or changes is checked above, not as a dependency.
    inside = {
        (change["model"], (change["after"] or change["before"]).get(KEYS[MODELS[change["model"]]]))
        for change in change_request.changes
        if KEYS[MODELS[change["model"]]]
    }
    for change in change_request.changes:
        for depend in change.get("depends", ()):
            if depend.get("key") is not None and (depend["model"], depend["key"]) in inside:
                continue
            target = apps.get_model(depend["model"]).objects.filter(pk=depend["pk"]).first()
            if target is None or versions.digest(target.audit_snapshot()) != depend["digest"]:
                return (
                    f"{change['label']} was proposed with {depend['label']} as it was then, "
                    "which has changed since."
                )
    return ""


def _locked_pending(change_request: ChangeRequest, by) -> ChangeRequest:
    current = ChangeRequest.objects.select_for_update().get(pk=change_request.pk)
    if current.status != ChangeRequest.Status.PENDING:
        raise ChangeRefused(
            f"Change request {current.pk} is no longer waiting: "
            f"{current.get_status_display().lower()}."
        )
    if not by.has_perm("streams.decide_changerequest"):
        raise ChangeRefused("Only governance admins accept or decline change requests.")
    return current


def _apply(change_request: ChangeRequest, by, request) -> None:
    source = f"change request {change_request.pk}"
    for change in change_request.changes:
        model = MODELS[change["model"]]
        if model in DIRECT and change["after"] is not None:
            _apply_fields(model, change, by, source, request)
        elif model in GENERIC and change["after"] is not None:
            _apply_values(model, change, by, source, request)
        elif change["before"] is not None and change["after"] is None:
            obj = model.objects.get(pk=change["pk"])
            obj.delete()
            config_change_report(
                obj=obj,
                verb="delete",
                before=change["before"],
                after=None,
                actor=by,
                source=source,
                request=request,
            )
        elif change["before"] is not None:
            key = KEYS[model]
            if change["before"][key] != change["after"][key]:  # a rename: import goes by name
                model.objects.filter(pk=change["pk"]).update(**{key: change["after"][key]})
    if change_request.document:
        config_import(_with_secrets(change_request), source=source, actor=by)


def _with_secrets(change_request: ChangeRequest) -> dict:
    """The request's document with each connection's new secret in clear, in memory only:
    the import stores it encrypted again (and keeps a secret it already has)."""
    secrets = {
        change["after"]["name"]: crypto.decrypt(change["secret_encrypted"])
        for change in change_request.changes
        if change["model"] == "streams.genesysconnection" and change.get("secret_encrypted")
    }
    document = dict(change_request.document)
    if secrets:
        document["connections"] = [
            {**doc, "client_secret": secrets[doc["name"]]}
            if doc["name"] in secrets and not doc.get("client_secret_env")
            else doc
            for doc in document.get("connections", [])
        ]
    return document


def _apply_fields(model, change, by, source, request) -> None:
    obj = model.objects.get(pk=change["pk"]) if change["pk"] else model()
    for field in DIRECT[model]:
        setattr(obj, field, change["after"][field])
    if model is WebhookEndpoint:
        obj.secret_encrypted = change["secret_encrypted"]
        if obj.enabled:
            obj.disabled_reason = ""
    obj.full_clean()
    obj.save()
    config_change_report(
        obj=obj,
        verb="update" if change["pk"] else "create",
        before=change["before"],
        after=obj.audit_snapshot(),
        actor=by,
        source=source,
        request=request,
    )


def _apply_values(model, change, by, source, request) -> None:
    """A registered model's proposed field values; the fields in `stamp` take the time of
    acceptance (a legal hold is lifted when a second admin agrees, not when it was asked)."""
    obj = model.objects.get(pk=change["pk"]) if change["pk"] else model()
    for attname, value in change["values"].items():
        field = model._meta.get_field(attname)
        if value is not None and not isinstance(field, models.JSONField):
            value = field.to_python(value)
        setattr(obj, attname, value)
    for attname in change.get("stamp", ()):
        setattr(obj, attname, timezone.now())
    obj.full_clean(exclude=_unchecked(model))
    obj.save()
    for name, pks in change.get("m2m", {}).items():
        getattr(obj, name).set(pks)
    config_change_report(
        obj=obj,
        verb=change.get("verb") or ("update" if change["pk"] else "create"),
        before=change["before"],
        after=obj.audit_snapshot(),
        actor=by,
        source=source,
        request=request,
    )


def _unchecked(model) -> list[str]:
    """Fields a change does not set are not validated again (a person's password)."""
    if model not in ONLY:
        return []
    return [f.name for f in model._meta.concrete_fields if f.name not in ONLY[model]]


def _decide(change_request, status, by, comment, verb, request) -> None:
    before = change_request.audit_snapshot()
    change_request.status = status
    change_request.decided_by = by
    change_request.decided_at = timezone.now()
    change_request.comment = comment
    change_request.save(update_fields=["status", "decided_by", "decided_at", "comment"])
    _report(change_request, verb, before, by, "admin", request)


def _report(change_request, verb, before, actor, source, request) -> None:
    config_change_report(
        obj=change_request,
        verb=verb,
        before=before,
        after=change_request.audit_snapshot(),
        actor=actor,
        source=source,
        request=request,
    )


def _comment(comment: str) -> str:
    comment = scrub_nul((comment or "").strip())  # PostgreSQL text cannot hold NUL
    if len(comment) > COMMENT_MAX_LENGTH:
        raise ValidationError(
            f"The comment is {len(comment)} characters; the limit is {COMMENT_MAX_LENGTH}."
        )
    return comment
