"""The four roles, as groups with exactly these permissions, and the default reason codes.

A data migration first creates them; `post_migrate` keeps them in step with this file
after every migrate (and restores them after a flush, which empties every table)."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db.models import Q

OFFICERS, ADMINS, AUDITORS = "Compliance officers", "Governance admins", "Auditors"
DPOS = "Data protection officers"


CONFIG_MODELS = (
    "genesysconnection",
    "confidencematrix",
    "confidencerule",
    "streamconfig",
    "streamfilter",
    "knowledgesource",
    "knowledgestream",
    "knowledgestreamsource",
)


ROLE_PERMISSIONS = {
    OFFICERS: [
        "streams.view_insight",
        "streams.review_insight",
        "streams.review_knowledgequery",
        "streams.view_streamconfig",
        "streams.view_quarantinedframe",
        "streams.view_knowledgequery",
        "streams.run_knowledgequery",
        "audit.view_reasoncode",
        "audit.give_second_review",
    ],
    ADMINS: [
        *(
            f"streams.{verb}_{model}"
            for model in CONFIG_MODELS
            for verb in ("add", "change", "delete", "view")
        ),
        "streams.view_insight",
        "streams.review_insight",
        "streams.review_knowledgequery",
        "streams.view_quarantinedframe",
        "streams.view_streamstatus",
        "audit.view_auditentry",
        "audit.add_reasoncode",
        "audit.change_reasoncode",
        "audit.view_reasoncode",
        "audit.add_typelabel",
        "audit.change_typelabel",
        "audit.view_typelabel",
        "streams.add_webhookendpoint",
        "streams.change_webhookendpoint",
        "streams.view_webhookendpoint",
        "streams.change_webhookdelivery",
        "streams.view_webhookdelivery",
        "streams.view_webhookattempt",
        "streams.view_genesysfeedback",
        "streams.view_knowledgequery",
        "streams.run_knowledgequery",
        "streams.add_apitoken",
        "streams.change_apitoken",
        "streams.view_apitoken",
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
        "audit.assign_items",
        "audit.view_workspacesettings",
        "audit.change_workspacesettings",
        "audit.view_savedview",
        "audit.change_savedview",
        "audit.delete_savedview",
        "audit.view_retentionpolicy",
        "audit.change_retentionpolicy",
        "audit.view_legalhold",
        "audit.add_legalhold",
        "audit.change_legalhold",
        # Admins see first decisions under a blind second review, so they give none.
        "audit.see_decisions_under_review",
        "audit.adjudicate_secondreview",
        "streams.view_changerequest",
        "streams.view_configversion",
        "audit.view_evidencepack",
        "audit.add_evidencepack",
        "audit.view_trainingattestation",
        "audit.add_trainingattestation",
        "audit.change_trainingattestation",
        "audit.view_incident",
        "audit.add_incident",
        "audit.change_incident",
        "audit.view_person",
        "audit.add_person",
        "audit.change_person",
        "streams.decide_changerequest",
        "audit.view_secondreview",
        "audit.view_oversightsettings",
        "audit.change_oversightsettings",
        "audit.add_streamsampling",
        "audit.change_streamsampling",
        "audit.delete_streamsampling",
        "audit.view_streamsampling",
        # Personal data: detection settings (four-eyes), and erasure with a second person.
        "streams.view_privacysettings",
        "streams.change_privacysettings",
        "streams.erase_subject",
        "audit.view_erasurerequest",
        "audit.add_erasurerequest",
    ],
    AUDITORS: [
        *(f"streams.view_{model}" for model in CONFIG_MODELS),
        "streams.view_insight",
        "streams.view_quarantinedframe",
        "streams.view_streamstatus",
        "audit.view_auditentry",
        "audit.view_reasoncode",
        "audit.view_typelabel",
        "streams.view_webhookendpoint",
        "streams.view_webhookdelivery",
        "streams.view_webhookattempt",
        "streams.view_genesysfeedback",
        "streams.view_knowledgequery",
        "streams.view_apitoken",
        "axes.view_accessattempt",
        "audit.view_workspacesettings",
        "audit.view_savedview",
        "audit.view_retentionpolicy",
        "audit.view_legalhold",
        "audit.view_secondreview",
        "audit.see_decisions_under_review",
        "audit.view_oversightsettings",
        "audit.view_streamsampling",
        "streams.view_changerequest",
        "streams.view_configversion",
        "audit.view_evidencepack",
        "audit.add_evidencepack",
        "audit.view_trainingattestation",
        "audit.view_incident",
        "audit.view_person",
        "streams.view_privacysettings",
        "audit.view_erasurerequest",
    ],
    # The only role that may read a customer's original text (for a stated reason, each time
    # an audit entry), besides finding data subjects and erasing with a second person.
    DPOS: [
        "streams.reveal_original",
        "streams.erase_subject",
        "streams.view_privacysettings",
        "streams.view_insight",
        "streams.view_knowledgequery",
        "audit.view_auditentry",
        "audit.view_legalhold",
        "audit.view_erasurerequest",
        "audit.add_erasurerequest",
    ],
}


DEFAULT_REASON_CODES = [
    ("outdated", "Outdated or withdrawn content"),
    ("inaccurate", "Inaccurate or misleading"),
    ("non-compliant", "Breaks policy or regulation"),
    ("irrelevant", "Not relevant to the interaction"),
    ("sensitive", "Exposes sensitive or personal data"),
    ("duplicate", "Duplicate of another insight"),
    ("other", "Other (see note)"),
]


def sync_roles(apps) -> None:
    for label in ("axes", "streams", "audit"):
        try:
            app_config = apps.get_app_config(label)
        except LookupError:  # a migration state without that app yet: post_migrate grants
            continue
        module = getattr(app_config, "models_module", None)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, labels in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = Q()
        for label in labels:
            app, codename = label.split(".")
            wanted |= Q(content_type__app_label=app, codename=codename)
        # Inside a migration, models added later have no permissions yet: post_migrate,
        # which runs with every model, grants them.
        group.permissions.set(Permission.objects.filter(wanted))


def ensure_reason_codes(apps) -> None:
    """Defaults for a database that has none (a new one, or one just flushed)."""
    ReasonCode = apps.get_model("audit", "ReasonCode")
    if ReasonCode.objects.exists():
        return
    for position, (code, label) in enumerate(DEFAULT_REASON_CODES):
        ReasonCode.objects.create(code=code, label=label, position=position)


def ensure_type_labels(apps) -> None:
    """The default words for the known insight types, where no label is set."""
    from audit.vocabulary import DEFAULT_TYPE_LABELS, DEFAULT_TYPE_MEANINGS
    from streams.genesys.payloads import type_words

    TypeLabel = apps.get_model("audit", "TypeLabel")
    for code, label in DEFAULT_TYPE_LABELS.items():
        TypeLabel.objects.get_or_create(code=code, defaults={"label": label})
    for code, (approve, reject) in DEFAULT_TYPE_MEANINGS.items():
        row, _ = TypeLabel.objects.get_or_create(
            code=code, defaults={"label": DEFAULT_TYPE_LABELS.get(code) or type_words(code)}
        )
        if not (row.approve_means or row.reject_means):  # never over an admin's words
            TypeLabel.objects.filter(pk=row.pk).update(approve_means=approve, reject_means=reject)


def on_post_migrate(sender, apps=None, **kwargs) -> None:
    # migrate passes the migrated state; flush passes nothing: the current models serve.
    apps = apps or global_apps
    if sender.label == "audit":
        sync_roles(apps)
        ensure_reason_codes(apps)
        ensure_type_labels(apps)
