"""The admin of API tokens: created and shown once, revoked, never deleted."""

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone

from streams.admin_base import FourEyesAdmin, ShownOnceAdmin
from streams.config import changes
from streams.tokens.models import ApiToken


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["name"]


@admin.register(ApiToken)
class ApiTokenAdmin(ShownOnceAdmin, FourEyesAdmin):
    """Tokens for the JSON API: created here (under four-eyes, working once a second admin
    accepts), shown once to the admin who made it, revoked here at once; never deleted."""

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
                obj,
                what=f"API token {obj.name}",
                value=plaintext,
                instructions="Send it as 'Authorization: Bearer <token>'. Only its SHA-256 is "
                "stored: it is never shown again."
                + (
                    " It works once a second governance admin accepts the change request."
                    if changes.four_eyes_on()
                    else ""
                ),
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
