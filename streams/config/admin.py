"""The admin of connections, confidence matrices and streams."""

import json
from datetime import datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html

from streams.admin_base import (
    FourEyesAdmin,
    LabelledTabularInline,
    LinesField,
    html_table,
    https_by_default,
    preformatted,
    write_only_secret,
)
from streams.config import changes
from streams.config.check import check_connection
from streams.config.directory import genesys_directory
from streams.config.models import (
    ConfidenceMatrix,
    ConfidenceRule,
    GenesysConnection,
    StreamConfig,
    StreamFilter,
)
from streams.config.services import stream_start, stream_stop
from streams.genesys import scoring
from streams.genesys.suggestions import SUGGESTION_KINDS, suggestion_topic, watch_topics
from streams.worker.consumer import nudge_stream_worker
from streams.worker.models import StreamState
from streams.worker.reconciliation import request_today
from streams.worker.specs import stream_spec


def _when(value) -> str:
    return formats.localize(timezone.localtime(value))


class GenesysConnectionForm(forms.ModelForm):
    new_client_secret = write_only_secret(
        "Client secret",
        "Write-only: it is stored encrypted and never shown. Leave blank to keep the stored one.",
    )

    class Meta:
        model = GenesysConnection
        formfield_callback = https_by_default
        fields = ["name", *GenesysConnection.SETTINGS]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("new_client_secret"):
            self.instance.set_client_secret(cleaned["new_client_secret"])
        if cleaned.get("client_secret_env"):
            self.instance.client_secret_encrypted = ""
        return cleaned


@admin.register(GenesysConnection)
class GenesysConnectionAdmin(FourEyesAdmin):
    form = GenesysConnectionForm
    list_display = ["name", "flavour", "endpoint", "client_id", "secret_state"]
    list_filter = ["flavour", "region"]
    search_fields = ["name", "client_id"]
    readonly_fields = ["resolved_api_url", "resolved_token_url", "secret_state", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "flavour"]}),
        (
            "Where",
            {
                "fields": [
                    "region",
                    "api_base_url",
                    "login_base_url",
                    "resolved_api_url",
                    "resolved_token_url",
                ],
                "description": "Choose a region for a Genesys Cloud org, or give custom base "
                "URLs for a gateway or the simulator.",
            },
        ),
        (
            "OAuth client credentials",
            {"fields": ["client_id", "new_client_secret", "client_secret_env", "secret_state"]},
        ),
        (None, {"fields": ["updated_at"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        """A reader (an auditor) sees whether a secret is stored, not a field to replace it
        (which the read-only page would show as "None")."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        return [
            (
                name,
                {**options, "fields": [f for f in options["fields"] if f != "new_client_secret"]},
            )
            for name, options in fieldsets
        ]

    def get_urls(self):
        check = self.admin_site.admin_view(self.check_view)
        return [
            path("<int:pk>/check/", check, name="streams_genesysconnection_check"),
            *super().get_urls(),
        ]

    def check_view(self, request, pk):
        """Call each endpoint the connection's streams need; say per feature what Genesys
        answered. A POST: it opens a notification channel and is recorded."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        connection = self.get_object(request, str(pk))
        if connection is None or not self.has_change_permission(request, connection):
            raise PermissionDenied
        findings = check_connection(connection, actor=request.user, request=request)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "connection": connection,
            "findings": findings,
            "all_permitted": all(f.outcome == "permitted" for f in findings),
            "title": f"Connection check: {connection.name}",
        }
        return TemplateResponse(request, "admin/streams/genesysconnection/check.html", context)

    @admin.display(description="API")
    def endpoint(self, obj):
        return obj.api_base_url or obj.region

    @admin.display(description="API URL in use")
    def resolved_api_url(self, obj):
        return obj.api_url if obj.pk else "-"

    @admin.display(description="token URL in use")
    def resolved_token_url(self, obj):
        return obj.token_url if obj.pk else "-"

    @admin.display(description="client secret")
    def secret_state(self, obj):
        if obj.client_secret_env:
            return f"from ${obj.client_secret_env}"
        return "stored (encrypted)" if obj.client_secret_encrypted else "not set"


class ConfidenceRuleForm(forms.ModelForm):
    class Meta:
        model = ConfidenceRule
        fields = [
            "insight_type",
            "min_confidence",
            "max_confidence",
            "weight",
            "auto_approve_at",
            "auto_filter",
        ]

    def has_changed(self):
        # A new matrix's rule offered at Genesys' recommended threshold is kept unless the
        # admin empties its type (a formset skips unchanged extra forms, and would refuse an
        # emptied one as incomplete).
        offered = self.instance.pk is None and bool(self.initial.get("insight_type"))
        kept = bool(self.data.get(self.add_prefix("insight_type"), "").strip())
        return kept if offered else super().has_changed()


class ConfidenceRuleInline(LabelledTabularInline):
    model = ConfidenceRule
    form = ConfidenceRuleForm
    extra = 1

    def get_extra(self, request, obj=None, **kwargs):
        return len(GENESYS_DEFAULT_RULES) if obj is None else self.extra


# A new matrix starts from Genesys' recommended threshold for English content search.
GENESYS_DEFAULT_RULES = [
    {"insight_type": kind, "min_confidence": scoring.GENESYS_THRESHOLD_ENGLISH, "weight": 1.0}
    for kind in scoring.KNOWLEDGE_TYPES
]


@admin.register(ConfidenceMatrix)
class ConfidenceMatrixAdmin(FourEyesAdmin):
    inlines = [ConfidenceRuleInline]
    list_display = ["name", "default_weight", "no_confidence", "rule_summary", "updated_at"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("rules")

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, ConfidenceRuleInline) and obj.pk is None:
            kwargs["initial"] = GENESYS_DEFAULT_RULES
        return kwargs

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        for rule in form.instance.rules.all():
            warning = scoring.below_genesys(rule.insight_type, rule.min_confidence)
            if warning:
                messages.warning(request, warning)

    @admin.display(description="rules")
    def rule_summary(self, obj):
        return "; ".join(str(rule) for rule in obj.rules.all()) or "-"


class StreamConfigForm(forms.ModelForm):
    interaction_ids = LinesField(
        required=False,
        label="Conversations",
        help_text="One interaction (conversation) id per line. Seed flavour: empty means all. "
        "Notifications flavour: these are subscribed beside the followed queues' and agents'.",
    )
    queue_ids = LinesField(
        required=False,
        label="Queues to follow",
        help_text="Notifications flavour: one Genesys queue id per line (Check connection, on "
        "the connection's page, shows each one's name or says it is unknown). Each "
        "conversation that starts in one of them is subscribed as it starts, back-filled, and "
        "let go a while after it ends.",
    )
    user_ids = LinesField(
        required=False,
        label="Agents to follow",
        help_text="Notifications flavour: one Genesys user id per line; their conversations are "
        "followed as for queues.",
    )
    insight_types = LinesField(
        required=False,
        help_text="One insight type per line; empty means every type. Seed flavour: "
        "knowledge_recommendation, sentiment_alert, compliance_flag, or another. Notifications "
        "flavour: the suggestion kinds knowledge.search, knowledge.article, response, script, "
        "intent, thirdpartyaction, and summary (conversation summaries with their predicted "
        "wrap-up codes, from followed queues and agents).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        connection = self.instance.connection if self.instance.connection_id else None
        if connection is None:
            notifications = GenesysConnection.objects.filter(
                flavour=GenesysConnection.Flavour.NOTIFICATIONS
            )
            connection = notifications.first() if notifications.count() == 1 else None
        if connection is not None and connection.flavour == GenesysConnection.Flavour.NOTIFICATIONS:
            self._pick_by_name(connection)

    def _pick_by_name(self, connection) -> None:
        """Queues and agents chosen by name from Genesys' lists (searchable); an id chosen
        before that Genesys no longer lists stays, said as such. When the lists cannot be
        read, the ids are typed, and the page says why."""
        directory = genesys_directory(connection)
        for name, what, entries in (
            ("queue_ids", "queues", directory.queues),
            ("user_ids", "users", directory.users),
        ):
            field = self.fields[name]
            if what in directory.problems:
                field.help_text += (
                    f" (Names cannot be listed from {connection.name}: {directory.problems[what]}.)"
                )
                continue
            current = list(self.initial.get(name) or [])
            known = dict(entries)
            choices = entries + [
                (ident, f"{ident} (not listed by Genesys)")
                for ident in current
                if ident not in known
            ]
            label = "queues" if what == "queues" else "agents"
            self.fields[name] = forms.MultipleChoiceField(
                required=False,
                label=field.label,
                choices=choices,
                widget=FilteredSelectMultiple(label, is_stacked=False),
                help_text=f"Chosen by name from {connection.name}'s {label} in Genesys: type "
                "in the filter to search. "
                + (
                    "Each conversation that starts in one of them is subscribed as it starts, "
                    "back-filled, and let go a while after it ends."
                    if what == "queues"
                    else "Their conversations are followed as for queues."
                ),
            )

    class Meta:
        model = StreamConfig
        fields = [
            "name",
            "connection",
            "confidence_matrix",
            "interaction_ids",
            "queue_ids",
            "user_ids",
            "insight_types",
            "enabled",
            "send_verdicts",
        ]


class StreamFilterInline(LabelledTabularInline):
    model = StreamFilter
    extra = 0


# Colours by class in admin.css: the CSP allows no inline style.
STATE_CLASSES = {
    StreamState.CONNECTED: "ok",
    StreamState.STARTING: "idle",
    StreamState.RECONNECTING: "warn",
    StreamState.SATURATED: "warn",
    StreamState.ERROR: "bad",
    StreamState.STOPPED: "idle",
}


STATUS_FIELDS = [
    "state",
    "status_detail",
    "last_frame_at",
    "last_event_id",
    "last_error",
    "reconnects",
    "frames",
    "insights_stored",
    "duplicates",
    "quarantined",
    "filtered",
    "worker",
    "retry_at",
]


@admin.register(StreamConfig)
class StreamConfigAdmin(FourEyesAdmin):
    form = StreamConfigForm
    inlines = [StreamFilterInline]
    list_display = [
        "name",
        "connection",
        "enabled",
        "state",
        "last_frame_at",
        "reconnects",
        "insights_stored",
        "quarantined",
        "last_error",
    ]
    list_filter = ["enabled", "connection", "status__state"]
    list_select_related = ["connection", "status"]
    search_fields = ["name"]
    actions = ["start_streams", "stop_streams", "reconcile_now"]
    readonly_fields = [*STATUS_FIELDS, "subscription_preview", "reconciliations"]
    fieldsets = [
        (None, {"fields": ["name", "connection", "confidence_matrix", "enabled"]}),
        ("Genesys feedback", {"fields": ["send_verdicts"]}),
        (
            "Subscription",
            {
                "fields": [
                    "queue_ids",
                    "user_ids",
                    "interaction_ids",
                    "insight_types",
                    "subscription_preview",
                ]
            },
        ),
        ("Status (reported by the stream worker)", {"fields": STATUS_FIELDS}),
        (
            "Reconciliation with Genesys",
            {
                "fields": ["reconciliations"],
                "description": "Genesys' own count of the stream's suggestions (Copilot "
                "aggregates) against what was stored, each UTC day once it is over, or today "
                "so far when asked (action on the streams list). Conversations short are "
                "back-filled. Notifications flavour only.",
            },
        ),
    ]

    def _status(self, obj, name, default="-"):
        status = getattr(obj, "status", None) if obj.pk else None
        value = getattr(status, name, default) if status is not None else default
        return _when(value) if isinstance(value, datetime) else value

    @admin.display(description="state", ordering="status__state")
    def state(self, obj):
        state = self._status(obj, "state", StreamState.STOPPED)
        return format_html(
            '<strong class="state state-{}">{}</strong>', STATE_CLASSES.get(state, "stopped"), state
        )

    @admin.display(description="detail")
    def status_detail(self, obj):
        return self._status(obj, "detail")

    @admin.display(description="last frame", ordering="status__last_frame_at")
    def last_frame_at(self, obj):
        return self._status(obj, "last_frame_at")

    @admin.display(description="last stored event id")
    def last_event_id(self, obj):
        return self._status(obj, "last_event_id")

    @admin.display(description="last error")
    def last_error(self, obj):
        error = self._status(obj, "last_error", "")
        when = self._status(obj, "last_error_at", None)
        return f"{when}: {error}" if error and when else "-"

    @admin.display(description="reconnects")
    def reconnects(self, obj):
        return self._status(obj, "reconnects", 0)

    @admin.display(description="frames")
    def frames(self, obj):
        return self._status(obj, "frames", 0)

    @admin.display(description="insights stored", ordering="status__insights_stored")
    def insights_stored(self, obj):
        return self._status(obj, "insights_stored", 0)

    @admin.display(description="duplicates ignored")
    def duplicates(self, obj):
        return self._status(obj, "duplicates", 0)

    @admin.display(description="quarantined")
    def quarantined(self, obj):
        return self._status(obj, "quarantined", 0)

    @admin.display(description="outside confidence range")
    def filtered(self, obj):
        return self._status(obj, "filtered", 0)

    @admin.display(description="worker")
    def worker(self, obj):
        return self._status(obj, "worker")

    @admin.display(description="next attempt")
    def retry_at(self, obj):
        return self._status(obj, "retry_at") or "-"

    @admin.display(description="subscription sent")
    def subscription_preview(self, obj):
        if not obj.pk:
            return "-"
        spec = stream_spec(obj)
        if spec.problem:
            return spec.problem
        if spec.notifications:
            kinds = list(spec.insight_types) or list(SUGGESTION_KINDS)
            topics = watch_topics(list(spec.queue_ids), list(spec.user_ids))
            topics += [suggestion_topic(c, k) for c in spec.interaction_ids for k in kinds]
            shown = topics[:50]
            more = len(topics) - len(shown)
            lines = shown + ([f"... and {more} more"] if more else [])
            lines.append(
                f"and, for each conversation found in the queues and agents: "
                f"{', '.join(suggestion_topic('{conversation}', k) for k in kinds)}"
            )
            return preformatted("\n".join(lines))
        body = json.loads(spec.subscription(None).to_json())
        return preformatted(json.dumps(body, indent=2))

    @admin.display(description="latest")
    def reconciliations(self, obj):
        rows = list(obj.reconciliations.all()[:5]) if obj.pk else []
        if not rows:
            return "None yet."
        return html_table(
            "Latest reconciliations",
            "results",
            ["Interval", "Asked by", "Result", "Genesys counted", "Stored", "Detail"],
            [
                (
                    f"{_when(row.interval_start)} to {_when(row.interval_end)}",
                    row.requested_by,
                    row.get_state_display(),
                    "-" if row.genesys_count is None else row.genesys_count,
                    "-" if row.stored_after is None else row.stored_after,
                    row.detail or "-",
                )
                for row in rows
            ],
            numbers=(3, 4),
        )

    @admin.action(
        description="Reconcile selected streams with Genesys now (today so far)",
        permissions=["change"],
    )
    def reconcile_now(self, request, queryset):
        notifications = queryset.filter(connection__flavour=GenesysConnection.Flavour.NOTIFICATIONS)
        skipped = queryset.count() - notifications.count()
        for stream in notifications:
            request_today(stream, by=request.user.get_username())
        if notifications:
            transaction.on_commit(nudge_stream_worker)
            self.message_user(
                request,
                f"{len(notifications)} stream(s) will be reconciled by the stream worker; the "
                "result shows on each stream's page.",
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                f"{skipped} stream(s) skipped: reconciliation reads Genesys Cloud's Copilot "
                "aggregates, which only connections of the notifications flavour have.",
                messages.WARNING,
            )

    @admin.action(description="Start selected streams", permissions=["change"])
    def start_streams(self, request, queryset):
        if changes.four_eyes_on():
            change_request = changes.stream_start_request(
                streams=queryset, by=request.user, request=request
            )
            if change_request is None:
                self.message_user(request, "The selected streams are already running.")
                return None
            self.message_user(
                request,
                f"Nothing has started yet: change request {change_request.pk} waits for a "
                "second governance admin.",
                messages.INFO,
            )
            return HttpResponseRedirect(
                reverse("admin:streams_changerequest_change", args=[change_request.pk])
            )
        changed = stream_start(stream_ids=queryset.values("pk"), by=request.user, request=request)
        self.message_user(request, f"{changed} stream(s) started.", messages.SUCCESS)
        return None

    @admin.action(
        description="Stop selected streams (at once, also under four-eyes)", permissions=["change"]
    )
    def stop_streams(self, request, queryset):
        changed = stream_stop(stream_ids=queryset.values("pk"), by=request.user, request=request)
        self.message_user(request, f"{changed} stream(s) stopped.", messages.SUCCESS)
