"""The record of processing (GDPR Art. 30): each place personal data can be, what is kept
there, for how long and who can see it, read from this deployment's settings (the retention
policy, PERSONAL_DATA_POLICY, the detection). The admin page and the README's "Personal data"
section say the same; a test checks that the README names every place."""

from dataclasses import dataclass

from django.conf import settings

from audit.trail.models import RetentionPolicy
from streams.privacy import detect, vault
from streams.privacy.models import PrivacySettings


@dataclass(frozen=True)
class Place:
    name: str
    kept: str
    how_long: str
    who: str


def places() -> list[Place]:
    policy = RetentionPolicy.current()
    looked_for = ", ".join(
        detect.KIND_WORDS[kind] for kind in sorted(PrivacySettings.current().config().kinds)
    )
    months = lambda n: f"{n} months"  # noqa: E731
    originals = vault.keeps_originals()
    return [
        Place(
            "Insights and conversation summaries",
            f"The suggestion's or summary's text and Genesys' payload, with {looked_for} "
            "taken out (card ****1111, [email], [IBAN DE**…3000], [phone]); officers' notes "
            "and corrections, taken out the same way as typed.",
            f"{months(policy.insight_months)} after arrival (pending ones expire after "
            f"{policy.pending_max_days} days, then follow).",
            "Compliance officers, governance admins, auditors, data protection officers.",
        ),
        Place(
            "Knowledge queries and results",
            "The query an agent typed and the results' titles and snippets, taken out the "
            "same way before Genesys is asked; officers' notes.",
            months(policy.knowledge_months),
            "Compliance officers, governance admins, auditors, data protection officers.",
        ),
        Place(
            "Quarantined frames",
            "The first kilobytes of a frame that could not be read, taken out the same way.",
            months(policy.quarantine_months),
            "Compliance officers, governance admins, auditors (admin pages).",
        ),
        Place(
            "Webhook outbox and deliveries",
            "The events sent to the training platform: the texts as stored (taken out).",
            months(policy.webhook_months),
            "Governance admins, auditors; the receiving endpoint.",
        ),
        Place(
            "Verdicts sent to Genesys",
            "An officer's rating and note (taken out) on a suggestion, summary or document.",
            months(policy.webhook_months),
            "Governance admins, auditors; Genesys Cloud.",
        ),
        Place(
            "Sealed originals",
            (
                "Each text as it arrived (card verification codes removed), encrypted "
                "(AES-GCM) under a data key of its conversation, wrapped by the master key "
                "from the environment."
                if originals
                else "Nothing: this deployment keeps no originals (PERSONAL_DATA_POLICY=redacted)."
            ),
            f"Until erasure, or {months(policy.insight_months)} once nothing else of the "
            "conversation is kept.",
            "Data protection officers only, one item at a time for a stated reason (each "
            "reveal is an audit entry).",
        ),
        Place(
            "Data subjects' keyed hashes",
            "An HMAC (PERSONAL_DATA_HASH_KEY) of each e-mail address, phone number, card "
            "number and IBAN found, with its conversation id; never the value.",
            f"Until erasure, or {months(policy.insight_months)} once nothing else of the "
            "conversation is kept.",
            "Governance admins and data protection officers, by looking a value up (each "
            "lookup is an audit entry).",
        ),
        Place(
            "Knowledge cache",
            "Recent answers by their cleaned query, to answer the same query at once.",
            "The knowledge stream's cache TTL (a day at most); erasure removes a "
            "conversation's entries.",
            "Nobody reads it directly.",
        ),
        Place(
            "Audit trail",
            "No customer text: references (ids), and HMAC commitments to officers' notes and "
            "corrections. Staff user names and client IP addresses.",
            f"{months(policy.audit_months)} (the chain keeps a checkpoint for what goes).",
            "Governance admins, auditors, data protection officers.",
        ),
        Place(
            "Sign-in records",
            "User names, client IP addresses and browsers of sign-ins, failures and "
            "lock-outs; refusals counted per minute and source address.",
            months(policy.signin_months),
            "Governance admins, auditors.",
        ),
        Place(
            "Sessions",
            "A session key per signed-in person.",
            f"Until sign-out, {settings.SESSION_IDLE_MINUTES:g} minutes idle or "
            f"{settings.SESSION_MAX_HOURS:g} hours; ended ones are cleared daily.",
            "Nobody reads them.",
        ),
        Place(
            "Item openings",
            "When an officer first opened an item (their decision time).",
            months(policy.insight_months),
            "Governance admins (the dashboard's figures).",
        ),
        Place(
            "Erasure requests",
            "The conversation id, the request's reference and reason, who asked and who "
            "carried it out, and what was erased where (counts).",
            months(policy.audit_months),
            "Governance admins, auditors, data protection officers.",
        ),
        Place(
            "Participants' names",
            "The names Genesys gives for a followed conversation's participants, to take "
            "them out of its texts.",
            "In the stream worker's memory only, never stored.",
            "Nobody.",
        ),
        Place(
            "Logs",
            "No customer text: ids, counts, states and errors.",
            "As the operator keeps logs.",
            "Operators.",
        ),
    ]
