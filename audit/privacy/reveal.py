"""Revealing an item's original, for the few allowed (the permission
`streams.reveal_original`, which no role but data protection officers has), for a stated
reason: only where the deployment keeps originals (PERSONAL_DATA_POLICY=
redacted_and_original) and the conversation was not erased. Each reveal is an audit entry in
the security category (who, which item, why); the page shows the text for REVEAL_SECONDS."""

import json

from django.core.exceptions import PermissionDenied, ValidationError

from audit.trail.record import Origin, audit_record
from audit.vocabulary import bounded
from streams.models import Insight, KnowledgeQuery
from streams.privacy import current as privacy
from streams.privacy import vault
from streams.privacy.models import Original
from streams.privacy.store import original_context

REVEAL_PERMISSION = "streams.reveal_original"
REVEAL_SECONDS = 60
REASON_MIN = 10


class NothingToReveal(Exception):
    """There is no original to show, and the message says why."""


def item_ref(item) -> tuple[str, str]:
    if isinstance(item, Insight):
        return "insight", f"{item.stream_id}:{item.external_id}"
    if isinstance(item, KnowledgeQuery):
        return "knowledge", item.query_id
    raise ValueError(f"no originals are kept for {type(item).__name__}")


def has_original(item) -> bool:
    kind, ref = item_ref(item)
    return Original.objects.filter(item_kind=kind, item_ref=ref).exists()


def reveal(*, item, by, reason: str, origin: Origin | None = None) -> dict:
    """The item's original texts, by field ("snippet", "payload", "query_text")."""
    if not by.has_perm(REVEAL_PERMISSION):
        raise PermissionDenied
    reason = privacy.redacted(bounded(reason, "reason", 300))
    if len(reason) < REASON_MIN:
        raise ValidationError(
            "Say why you need the original (the case, the request): it is kept in the audit "
            "trail with your name."
        )
    if not vault.keeps_originals():
        raise NothingToReveal(
            "This deployment keeps no originals (PERSONAL_DATA_POLICY=redacted): the text "
            "shown is all there is."
        )
    kind, ref = item_ref(item)
    originals = list(Original.objects.filter(item_kind=kind, item_ref=ref).select_related("key"))
    if not originals:
        raise NothingToReveal(
            "Nothing was taken out of this item, or its conversation was erased: there is no "
            "original to show."
        )
    key = originals[0].key
    data_key = vault.unwrap(key.wrapped, key.master_key_id, key.conversation_id)
    texts = {
        o.field: vault.open_text(data_key, o.sealed, original_context(kind, ref, o.field))
        for o in originals
    }
    if "payload" in texts:
        texts["payload"] = json.loads(texts["payload"])
    audit_record(
        action="privacy.reveal",
        actor=by,
        obj=item,
        after={"reason": reason, "fields": sorted(texts)},
        origin=origin,
    )
    return texts
