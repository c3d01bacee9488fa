"""Versions of the settings that decide what people see.

Every change of a versioned setting (reported through `config_change_report`, whoever made
it: an admin, a change request, an import) writes the setting's whole snapshot as its next
version, unless the snapshot is the latest version's. The worker and the knowledge queries
judge items with the latest version and record it on each item, so an item's "rule that
applied" is read from its own version.
"""

import hashlib
import json

from django.db import IntegrityError, transaction
from django.utils import timezone

from streams.config.models import ConfidenceMatrix, ConfigVersion, StreamConfig
from streams.knowledge.models import KnowledgeStream

# Model -> the snapshot key that names an object (None: a single row, named by its model).
VERSIONED: dict = {ConfidenceMatrix: "name", StreamConfig: "name", KnowledgeStream: "name"}


def register(model, key: str | None = None) -> None:
    """Version `model`'s objects too (settings kept by other apps: oversight sampling)."""
    VERSIONED[model] = key


def model_label(model) -> str:
    return model._meta.label_lower


def _name(obj, snapshot: dict) -> str:
    key = VERSIONED[type(obj)]
    name = str(snapshot.get(key, "")) if key else ""
    words = str(type(obj)._meta.verbose_name).capitalize()
    return f"{words} {name}" if name else words


def digest(snapshot: dict) -> str:
    canonical = json.dumps(snapshot, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def latest(obj) -> ConfigVersion | None:
    return (
        ConfigVersion.objects.filter(model=model_label(type(obj)), object_pk=obj.pk)
        .order_by("-number")
        .first()
    )


def record(obj, *, source: str, actor=None, snapshot: dict | None = None) -> ConfigVersion:
    """The object's version as it is now: the latest one if nothing changed, else a new one
    numbered after it."""
    snapshot = obj.audit_snapshot() if snapshot is None else snapshot
    fingerprint = digest(snapshot)
    for _ in range(3):  # two writers numbering at once: the unique number decides
        last = latest(obj)
        if last is not None and last.digest == fingerprint:
            return last
        try:
            with transaction.atomic():
                return ConfigVersion.objects.create(
                    model=model_label(type(obj)),
                    object_pk=obj.pk,
                    name=_name(obj, snapshot)[:200],
                    number=(last.number + 1) if last else 1,
                    snapshot=snapshot,
                    digest=fingerprint,
                    created_at=timezone.now(),
                    source=source[:200],
                    actor_label=_actor(actor)[:150],
                )
        except IntegrityError:
            continue
    raise RuntimeError(f"could not number a new version of {obj!r}")


def current(obj) -> ConfigVersion:
    """The version in force (written now, as "recorded", for a setting that has none yet)."""
    return record(obj, source="recorded as found")


def on_change(obj, after: dict | None, *, actor, source: str) -> None:
    """From `config_change_report`: a versioned setting changed (deletions end no version:
    items keep the one that judged them)."""
    if type(obj) in VERSIONED and after is not None and obj.pk is not None:
        record(obj, source=source, actor=actor, snapshot=after)


def later(version: ConfigVersion):
    """The versions of the same setting made after `version`, oldest first."""
    return ConfigVersion.objects.filter(
        model=version.model, object_pk=version.object_pk, number__gt=version.number
    ).order_by("number")


def _actor(actor) -> str:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return ""
    return actor.get_username()
