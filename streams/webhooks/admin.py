"""The admin of webhook endpoints and deliveries."""

import json

from django import forms
from django.contrib import admin, messages
from django.db import transaction

from streams.admin_base import (
    FourEyesAdmin,
    LabelledTabularInline,
    ReadOnlyAdmin,
    ShownOnceAdmin,
    https_by_default,
    preformatted,
    write_only_secret,
)
from streams.config.services import config_change_report
from streams.webhooks import outbox
from streams.webhooks.models import (
    GenesysFeedback,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


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
        formfield_callback = https_by_default
        fields = ["name", "url", "events", "batch_size", "enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "batch_size" in self.fields:  # not on a read-only view of the page
            self.fields["batch_size"].required = False  # blank: one event per request

    def clean_batch_size(self):
        return self.cleaned_data.get("batch_size") or 1

    def clean(self):
        cleaned = super().clean()
        self.generated_secret = ""
        if cleaned.get("new_secret"):
            self.instance.set_secret(cleaned["new_secret"])
        elif not self.instance.secret_encrypted:
            self.generated_secret = outbox.new_secret()
            self.instance.set_secret(self.generated_secret)
        if cleaned.get("enabled"):
            self.instance.disabled_reason = ""
        return cleaned


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ShownOnceAdmin, FourEyesAdmin):
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
                obj,
                what=f"Signing secret of webhook endpoint {obj.name}",
                value=form.generated_secret,
                instructions="Give it to the receiver, which verifies each delivery's "
                "webhook-signature with it. It is stored encrypted and never shown again.",
            )


class WebhookAttemptInline(LabelledTabularInline):
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
            count = outbox.redeliver(d.pk for d in deliveries)
            for delivery in deliveries:
                config_change_report(
                    obj=delivery,
                    verb="redeliver",
                    before={"status": delivery.status, "attempts": delivery.attempts},
                    after={"status": WebhookDelivery.Status.PENDING},
                    actor=request.user,
                    request=request,
                    source="admin",
                )
        self.message_user(request, f"{count} deliveries queued to be sent again.", messages.SUCCESS)


@admin.register(GenesysFeedback)
class GenesysFeedbackAdmin(ReadOnlyAdmin):
    """Officers' verdicts sent (or waiting to be sent) to Genesys as suggestion feedback."""

    list_display = [
        "created_at",
        "kind",
        "sent_for",
        "rating",
        "decided_by",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "sent_at",
    ]
    list_filter = ["status", "kind", "rating", "stream", "knowledge_stream"]
    search_fields = ["=suggestion_id", "=conversation_id", "=document_id"]
    ordering = ["-created_at"]
    list_select_related = ["stream", "knowledge_stream"]

    @admin.display(description="what")
    def sent_for(self, obj):
        if obj.kind == GenesysFeedback.Kind.DOCUMENT:
            return f"{obj.knowledge_stream}: document {obj.document_id}"
        return f"{obj.stream}: suggestion {obj.suggestion_id}"

    show_full_result_count = False
