import json
from datetime import UTC, datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.core.exceptions import FieldDoesNotExist
from django.core.paginator import Paginator
from django.db import connections, models, transaction
from django.http import HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from streams import webhooks
from streams.genesys.insights import StreamState
from streams.knowledge import knowledge_metrics
from streams.models import (
    ApiToken,
    ConfidenceMatrix,
    ConfidenceRule,
    GenesysConnection,
    KnowledgeSource,
    KnowledgeStream,
    KnowledgeStreamSource,
    QuarantinedFrame,
    StreamConfig,
    StreamFilter,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from streams.runner import stream_spec
from streams.signals import report_config_change


def preformatted(text: str):
    """Outside text shown as-is in a wrapping <pre> block, escaped."""
    return format_html('<pre class="wrapped">{}</pre>', text)


class LargeTablePaginator(Paginator):
    """On PostgreSQL, COUNT(*) of a whole table reads all of it (a million insights: about
    100 ms of a changelist's 300). Unfiltered, past ESTIMATE_FROM rows, the count is the
    planner's estimate (kept by autovacuum), which is what a page counter needs; any filter
    or search counts exactly."""

    ESTIMATE_FROM = 100_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor == "postgresql" and not queryset.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [connection.ops.quote_name(queryset.model._meta.db_table)],
                )
                row = cursor.fetchone()
            if row and row[0] >= self.ESTIMATE_FROM:
                return row[0]
        return super().count


# Changelist parameters that are not field lookups.
NOT_LOOKUPS = {"o", "q", "p", "e", "all", "_changelist_filters", "_to_field", "_popup"}
BIGINT = 2**63 - 1


def lookup_problem(model, params) -> str:
    """Why a changelist's filters cannot be applied (a time or a number the database cannot
    hold, which would fail while the page is drawn), or ""."""
    for key, values in params.lists():
        if key in NOT_LOOKUPS:
            continue
        field, lookup = _lookup_field(model, key)
        if field is None or lookup == "isnull":
            continue
        for value in values:
            for part in value.split(",") if lookup == "in" else [value]:
                why = _value_problem(field, part.strip())
                if why:
                    return f"The filter {key}={value[:60]!r} cannot be applied: {why}."
    return ""


def _lookup_field(model, key: str):
    """The field a lookup such as `received_at__gte` or `stream__id__exact` filters on."""
    parts = key.split("__")
    for end in range(len(parts), 0, -1):
        try:
            fields = get_fields_from_path(model, "__".join(parts[:end]))
        except (FieldDoesNotExist, NotRelationField):
            continue
        field = fields[-1]
        if field.is_relation and field.target_field is not None:
            field = field.target_field
        return field, parts[end] if end < len(parts) else "exact"
    return None, ""


def _value_problem(field, value: str) -> str:
    if isinstance(field, models.DateTimeField | models.DateField):
        parsed = parse_datetime(value) if "T" in value or " " in value else None
        if parsed is None:
            return ""  # not a time at all: the admin's own check says so
        try:
            if parsed.tzinfo is not None:
                parsed.astimezone(UTC)
        except OverflowError:
            return "the time is out of range (give one between the years 1 and 9999)"
    elif isinstance(field, models.IntegerField | models.AutoField):
        try:
            number = int(value)
        except ValueError:
            return ""
        if abs(number) > BIGINT:
            return "the number is too large"
    return ""


class CheckedLookupsAdmin(admin.ModelAdmin):
    """A changelist whose filters are checked first: a bad one gets a 400 naming it."""

    def changelist_view(self, request, extra_context=None):
        problem = lookup_problem(self.model, request.GET)
        if problem:
            return HttpResponseBadRequest(
                problem + " Remove it from the address and try again.", content_type="text/plain"
            )
        return super().changelist_view(request, extra_context)


class ReadOnlyAdmin(CheckedLookupsAdmin):
    """Records nobody may add, change or delete here: they are evidence (and the tables
    that grow: see LargeTablePaginator)."""

    paginator = LargeTablePaginator

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AuditedAdmin(admin.ModelAdmin):
    """Reports every create, update and delete with before/after snapshots for the audit trail.

    The admin wraps a save in a transaction, so the audit entry commits with the change.
    The "after" snapshot is taken once the inlines are saved too.
    """

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def save_model(self, request, obj, form, change):
        request._audit_before = (
            type(obj).objects.get(pk=obj.pk).audit_snapshot() if change else None
        )
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        before, after = request._audit_before, obj.audit_snapshot()
        if before != after:
            self.report(request, obj, "update" if change else "create", before, after)

    def delete_model(self, request, obj):
        before = obj.audit_snapshot()
        super().delete_model(request, obj)
        self.report(request, obj, "delete", before, None)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def report(self, request, obj, verb, before, after):
        report_config_change(
            obj=obj,
            verb=verb,
            before=before,
            after=after,
            actor=request.user,
            request=request,
            source="admin",
        )


class ShownOnceAdmin(admin.ModelAdmin):
    """After a save that created a secret (an API token, a webhook signing secret), the
    response is a page that shows it, once: not a redirect with the secret in a message,
    which would carry it in a cookie (signed, not encrypted) and in the next page's cache."""

    def show_once(self, request, *, what: str, value: str, instructions: str) -> None:
        request._shown_once = {"what": what, "value": value, "instructions": instructions}

    def response_add(self, request, obj, post_url_continue=None):
        return self._shown_once(request, obj) or super().response_add(
            request, obj, post_url_continue
        )

    def response_change(self, request, obj):
        return self._shown_once(request, obj) or super().response_change(request, obj)

    def _shown_once(self, request, obj):
        shown = getattr(request, "_shown_once", None)
        if shown is None:
            return None
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            **shown,
            "title": f"{shown['what']}: copy it now",
            "opts": opts,
            "object": obj,
            "continue_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
        }
        response = TemplateResponse(request, "admin/shown_once.html", context)
        response["Cache-Control"] = "no-store"
        return response


def _https_by_default(field, **kwargs):
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return field.formfield(**kwargs)


def write_only_secret(label: str, help_text: str) -> forms.CharField:
    """A secret the admin can set but never read back: the page never renders it."""
    return forms.CharField(
        label=label,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=help_text,
    )


class GenesysConnectionForm(forms.ModelForm):
    new_client_secret = write_only_secret(
        "Client secret",
        "Write-only: it is stored encrypted and never shown. Leave blank to keep the stored one.",
    )

    class Meta:
        model = GenesysConnection
        formfield_callback = _https_by_default
        fields = ["name", *GenesysConnection.SETTINGS]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("new_client_secret"):
            self.instance.set_client_secret(cleaned["new_client_secret"])
        if cleaned.get("client_secret_env"):
            self.instance.client_secret_encrypted = ""
        return cleaned


@admin.register(GenesysConnection)
class GenesysConnectionAdmin(AuditedAdmin):
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


class ConfidenceRuleInline(admin.TabularInline):
    model = ConfidenceRule
    extra = 1


@admin.register(ConfidenceMatrix)
class ConfidenceMatrixAdmin(AuditedAdmin):
    inlines = [ConfidenceRuleInline]
    list_display = ["name", "default_weight", "no_confidence", "rule_summary", "updated_at"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("rules")

    @admin.display(description="rules")
    def rule_summary(self, obj):
        return "; ".join(str(rule) for rule in obj.rules.all()) or "-"


class LinesField(forms.CharField):
    """A list of strings edited as one value per line (commas also separate)."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 60})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        text = super().to_python(value) or ""
        return [
            item.strip() for line in text.splitlines() for item in line.split(",") if item.strip()
        ]

    def has_changed(self, initial, data):
        return (initial or []) != self.to_python(data)


class StreamConfigForm(forms.ModelForm):
    interaction_ids = LinesField(
        required=False, help_text="One interaction id per line; empty means all interactions."
    )
    insight_types = LinesField(
        required=False,
        help_text="One insight type per line (knowledge_recommendation, sentiment_alert, "
        "compliance_flag, or another); empty means every type.",
    )

    class Meta:
        model = StreamConfig
        fields = [
            "name",
            "connection",
            "confidence_matrix",
            "interaction_ids",
            "insight_types",
            "enabled",
        ]


class StreamFilterInline(admin.TabularInline):
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
]


@admin.register(StreamConfig)
class StreamConfigAdmin(AuditedAdmin):
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
    actions = ["start_streams", "stop_streams"]
    readonly_fields = [*STATUS_FIELDS, "subscription_preview"]
    fieldsets = [
        (None, {"fields": ["name", "connection", "confidence_matrix", "enabled"]}),
        ("Subscription", {"fields": ["interaction_ids", "insight_types", "subscription_preview"]}),
        ("Status (reported by the stream worker)", {"fields": STATUS_FIELDS}),
    ]

    def _status(self, obj, name, default="-"):
        status = getattr(obj, "status", None) if obj.pk else None
        value = getattr(status, name, default) if status is not None else default
        if isinstance(value, datetime):
            return formats.localize(timezone.localtime(value))
        return value

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

    @admin.display(description="subscription sent")
    def subscription_preview(self, obj):
        if not obj.pk:
            return "-"
        spec = stream_spec(obj)
        if spec.problem:
            return spec.problem
        body = json.loads(spec.subscription(None).to_json())
        return preformatted(json.dumps(body, indent=2))

    @admin.action(description="Start selected streams", permissions=["change"])
    def start_streams(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description="Stop selected streams", permissions=["change"])
    def stop_streams(self, request, queryset):
        self._set_enabled(request, queryset, False)

    def _set_enabled(self, request, queryset, enabled):
        changed = 0
        with transaction.atomic():
            locked = StreamConfig.objects.select_for_update().filter(pk__in=queryset.values("pk"))
            for stream in locked.exclude(enabled=enabled):
                before = stream.audit_snapshot()
                stream.enabled = enabled
                stream.save(update_fields=["enabled", "updated_at"])
                self.report(
                    request, stream, "start" if enabled else "stop", before, stream.audit_snapshot()
                )
                changed += 1
        verb = "started" if enabled else "stopped"
        self.message_user(request, f"{changed} stream(s) {verb}.", messages.SUCCESS)


@admin.register(QuarantinedFrame)
class QuarantinedFrameAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "stream", "reason", "encoding", "raw_size"]
    list_filter = ["stream", "encoding"]
    search_fields = ["reason", "=external_id"]
    ordering = ["-received_at"]
    list_select_related = ["stream"]
    show_full_result_count = False
    readonly_fields = [
        "stream",
        "received_at",
        "reason",
        "encoding",
        "external_id",
        "raw_size",
        "raw_text",
    ]
    exclude = ["raw"]

    @admin.display(description="raw frame")
    def raw_text(self, obj):
        return preformatted(obj.raw)


class WebhookEndpointForm(forms.ModelForm):
    new_secret = write_only_secret(
        "Signing secret",
        "Write-only. Leave blank to keep the stored one; on a new endpoint, blank generates "
        "a secret that is shown once.",
    )
    events = forms.MultipleChoiceField(
        choices=WebhookEndpoint.Event.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        formfield_callback = _https_by_default
        fields = ["name", "url", "events", "enabled"]

    def clean(self):
        cleaned = super().clean()
        self.generated_secret = ""
        if cleaned.get("new_secret"):
            self.instance.set_secret(cleaned["new_secret"])
        elif not self.instance.secret_encrypted:
            self.generated_secret = webhooks.new_secret()
            self.instance.set_secret(self.generated_secret)
        if cleaned.get("enabled"):
            self.instance.disabled_reason = ""
        return cleaned


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ShownOnceAdmin, AuditedAdmin):
    form = WebhookEndpointForm
    list_display = ["name", "url", "event_list", "enabled", "disabled_reason"]
    list_filter = ["enabled"]
    readonly_fields = ["disabled_reason", "updated_at"]

    @admin.display(description="events")
    def event_list(self, obj):
        return ", ".join(obj.events)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if form.generated_secret:
            self.show_once(
                request,
                what=f"Signing secret of webhook endpoint {obj.name}",
                value=form.generated_secret,
                instructions="Give it to the receiver, which verifies each delivery's "
                "webhook-signature with it. It is stored encrypted and never shown again.",
            )


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["attempted_at", "status_code", "error", "duration_ms", "worker"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "endpoint",
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
    ]
    list_filter = ["status", "endpoint", "event_type"]
    search_fields = ["=id"]
    ordering = ["-created_at"]
    list_select_related = ["endpoint"]
    show_full_result_count = False
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]
    readonly_fields = [
        "id",
        "endpoint",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
        "payload_json",
    ]
    exclude = ["payload", "claimed_by", "claimed_until"]

    @admin.display(description="payload")
    def payload_json(self, obj):
        return preformatted(json.dumps(obj.payload, indent=2, ensure_ascii=False))

    def has_redeliver_permission(self, request):
        return request.user.has_perm("streams.change_webhookdelivery")

    @admin.action(description="Redeliver selected deliveries", permissions=["redeliver"])
    def redeliver(self, request, queryset):
        deliveries = list(queryset)
        with transaction.atomic():
            count = webhooks.redeliver(d.pk for d in deliveries)
            for delivery in deliveries:
                report_config_change(
                    obj=delivery,
                    verb="redeliver",
                    before={"status": delivery.status, "attempts": delivery.attempts},
                    after={"status": WebhookDelivery.Status.PENDING},
                    actor=request.user,
                    request=request,
                    source="admin",
                )
        self.message_user(request, f"{count} deliveries queued to be sent again.", messages.SUCCESS)


# Knowledge search


@admin.register(KnowledgeSource)
class KnowledgeSourceAdmin(AuditedAdmin):
    list_display = ["name", "knowledge_base_id", "enabled"]
    list_filter = ["enabled"]
    search_fields = ["name", "=knowledge_base_id"]


class KnowledgeStreamSourceInline(admin.TabularInline):
    model = KnowledgeStreamSource
    extra = 1
    autocomplete_fields = ["source"]


class KnowledgeStreamForm(forms.ModelForm):
    auto_query_types = LinesField(
        label="Query automatically for insight types",
        required=False,
        help_text="One insight type per line (knowledge_recommendation, say): each new insight "
        "of these types is searched with its text, and the answer joins the review queue. "
        "Empty: no automatic queries.",
    )

    class Meta:
        model = KnowledgeStream
        fields = [
            "name",
            "connection",
            "enabled",
            "confidence_threshold",
            "freshness_days",
            "max_results",
            "language",
            "max_in_flight",
            "query_timeout_seconds",
            "cache_ttl_seconds",
            "auto_query_types",
        ]


@admin.register(KnowledgeStream)
class KnowledgeStreamAdmin(AuditedAdmin):
    form = KnowledgeStreamForm
    inlines = [KnowledgeStreamSourceInline]
    list_display = ["name", "connection", "enabled", "state", "confidence_threshold"]
    list_filter = ["enabled", "connection", "state"]
    search_fields = ["name"]
    readonly_fields = ["state", "state_detail", "state_changed_at", "figures"]
    fieldsets = [
        (None, {"fields": ["name", "connection", "enabled"]}),
        (
            "What gets through",
            {"fields": ["confidence_threshold", "freshness_days", "max_results", "language"]},
        ),
        ("Load", {"fields": ["max_in_flight", "query_timeout_seconds", "cache_ttl_seconds"]}),
        ("Automatic queries", {"fields": ["auto_query_types"]}),
        ("Status", {"fields": ["state", "state_detail", "state_changed_at", "figures"]}),
    ]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not form.instance.source_links.exists():
            messages.warning(
                request,
                f"Knowledge stream {form.instance.name} has no knowledge source: it refuses "
                "queries until one is added.",
            )

    @admin.display(description="figures")
    def figures(self, obj):
        if not obj.pk:
            return "-"
        figures = knowledge_metrics(obj.pk)
        rows = [
            ("Queries", figures["queries"]),
            ("Answered", figures["answered"]),
            ("Timed out", figures["timed_out"]),
            ("Errors", figures["errors"]),
            ("Latency p50", _ms(figures["latency_p50_ms"])),
            ("Latency p95", _ms(figures["latency_p95_ms"])),
            ("Validated / returned", _percent(figures["validated_ratio"])),
            ("Cache hits", _percent(figures["cache_hit_ratio"])),
        ]
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
        )


def _ms(value):
    return "-" if value is None else f"{value:.1f} ms"


def _percent(value):
    return "-" if value is None else f"{value:.0%}"


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["name"]


@admin.register(ApiToken)
class ApiTokenAdmin(ShownOnceAdmin, AuditedAdmin):
    """Tokens for the JSON API: created here, shown once, revoked here; never deleted."""

    form = ApiTokenForm
    list_display = ["name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_selected"]

    def get_readonly_fields(self, request, obj=None):
        return ["name", *self.readonly_fields] if obj else []

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
            plaintext = obj.issue()
            self.show_once(
                request,
                what=f"API token {obj.name}",
                value=plaintext,
                instructions="Send it as 'Authorization: Bearer <token>'. Only its SHA-256 is "
                "stored: it is never shown again.",
            )
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke_selected(self, request, queryset):
        revoked = 0
        for token in queryset.filter(revoked_at=None):
            with transaction.atomic():
                before = token.audit_snapshot()
                token.revoked_at = timezone.now()
                token.save(update_fields=["revoked_at"])
                self.report(request, token, "revoke", before, token.audit_snapshot())
            revoked += 1
        messages.success(request, f"{revoked} token(s) revoked; they no longer authenticate.")
