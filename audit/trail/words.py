"""What an audit entry's action and object read as, for people."""

from django.apps import apps
from django.utils.text import capfirst

from streams.genesys.payloads import type_words

# What an audit action reads as in an item's history ("insight.approve": "Approved").
ACTION_WORDS = {
    "approve": "Approved",
    "reject": "Rejected",
    "correct": "Text fixed",
    "claim": "Claimed",
    "release": "Released",
    "skip": "Skipped",
    "assign": "Assigned",
    "give": "Second review given",
    "request": "Change requested (four-eyes)",
    "accept": "Change accepted and applied",
    "decline": "Change declined",
    "withdraw": "Change withdrawn",
    "expire": "Change request expired",
    "emergency_stop": "Stopped at once (emergency stop)",
    "send": "Sent to Genesys",
    "fail": "Could not be sent to Genesys",
    "rule": "Ruled on a disagreement",
    "overrule": "Decision changed by a ruling",
    "auto_decide": "Decided by a rule",
    "not_stored": "Kept out by a rule (not stored)",
    "query": "Searched",
    "download": "Downloaded",
    "received": "Received",
    "decided": "Decided by a rule",
    "create": "Created",
    "change": "Changed",
    "update": "Changed",
    "delete": "Deleted",
    "start": "Started",
    "stop": "Stopped",
    "disable": "Turned off",
    "redeliver": "Sent again",
    "import": "Imported",
    "publish": "Published",
    "unpublish": "Unpublished",
    "run_start": "Stream worker started it",
    "run_stop": "Stream worker stopped it",
    "run_channels_full": "Channels full: new conversations wait",
    "run_channels_room": "Channels have room again",
    "run_reconciled": "Reconciled with Genesys' counts",
    "check": "Connection checked",
    "sign_in": "Signed in",
    "sign_out": "Signed out",
    "sign_in_failed": "Sign-in failed",
    "lockout": "Locked out",
    "unlock": "Unlocked",
    "lift": "Lifted",
    "purge": "Purged by retention",
    "denied": "Refused access",
    "token_refused": "API token refused",
    "view": "Opened the audit trail",
    "verify": "Chain verified",
    "chain_broken": "Chain found broken",
    "reveal": "Original revealed",
    "find": "Data subject looked up",
    "erase": "Conversation erased",
    "erase_request": "Erasure requested (four-eyes)",
    "erase_carry_out": "Erasure carried out",
    "erase_declined": "Erasure declined",
    "erase_refused": "Erasure refused (legal hold)",
    "redact": "Personal data taken out of what was stored",
    "expire_pending": "Expired by rule (past the maximum age)",
    "evidence_pack": "Evidence pack written",
    "second_factor": "Second factor given",
    "second_factor_failed": "Wrong second-factor code",
    "second_factor_enabled": "Second factor set up",
    "second_factor_removed": "Second factor removed",
    "close": "Closed",
    "baseline": "First read from Genesys",
    "genesys_assistant.change": "Changed in Genesys",
    "genesys_assistant.create": "Added in Genesys",
    "genesys_assistant.delete": "Removed in Genesys",
}


# Object types that are not models.
OBJECT_WORDS = {
    "audit.trail.chain": "Audit trail",
    "url": "Address",
    "export": "Export",
    "conversation": "Conversation",
    "data_subject": "Data subject",
    "genesys.assistant": "Genesys assistant",
    "audit.evidencepack": "Evidence pack",
}


def object_kind(object_type: str) -> str:
    """An entry's object type in words: the model's name where it is one ("Stream
    configuration"), else the type's code in words ("export" -> "Export")."""
    if object_type in OBJECT_WORDS:
        return OBJECT_WORDS[object_type]
    try:
        return capfirst(apps.get_model(object_type)._meta.verbose_name)
    except (LookupError, ValueError):
        return type_words(object_type.rsplit(".", 1)[-1])


def action_words(action: str) -> str:
    """An audit action in words: the verb after the object's name, or the code in words."""
    verb = action.rsplit(".", 1)[-1]
    return ACTION_WORDS.get(action) or ACTION_WORDS.get(verb) or type_words(action)
