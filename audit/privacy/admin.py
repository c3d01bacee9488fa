"""Erasure requests in the admin: asked by one person with the permission to erase, carried
out (or declined) by a second, never the same; a legal hold refuses it with the reason."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from audit.privacy import erasure
from audit.privacy.models import ErasureRequest
from audit.trail.record import Origin


class ErasureRequestForm(forms.ModelForm):
    class Meta:
        model = ErasureRequest
        fields = ["conversation_id", "reference", "reason"]

    def clean_conversation_id(self):
        conversation = self.cleaned_data["conversation_id"].strip()
        refused = erasure.refusal(conversation)
        if refused:
            raise ValidationError(refused)
        return conversation


@admin.register(ErasureRequest)
class ErasureRequestAdmin(admin.ModelAdmin):
    form = ErasureRequestForm
    list_display = [
        "conversation_id",
        "status_words",
        "reference",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
    ]
    list_filter = ["status"]
    search_fields = ["=conversation_id", "reference"]
    actions = ["carry_out_selected", "decline_selected"]
    readonly_fields = [
        "conversation_id",
        "reference",
        "reason",
        "requested_by",
        "requested_at",
        "status",
        "decided_by",
        "decided_at",
        "comment",
        "counts",
    ]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_changeform_initial_data(self, request):
        # The find-a-data-subject page links here with the conversation filled in.
        return {"conversation_id": request.GET.get("conversation_id", "")[:128]}

    @admin.display(description="status")
    def status_words(self, obj):
        if obj.status == ErasureRequest.Status.PENDING and obj.expires_at < timezone.now():
            return "Expired (unanswered)"
        return obj.get_status_display()

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_erase_permission(self, request):
        return request.user.has_perm(erasure.ERASE_PERMISSION)

    def save_model(self, request, obj, form, change):
        created = erasure.request_erasure(
            conversation_id=obj.conversation_id,
            reason=obj.reason,
            reference=obj.reference,
            by=request.user,
            origin=Origin.from_request(request),
        )
        obj.pk = created.pk

    def log_addition(self, request, obj, message):
        pass  # the audit trail has it (privacy.erase_request)

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(
            request,
            f"Nothing is erased yet: erasure request {obj.pk} waits for a second person with "
            "the permission to erase (select it in the list, then 'Carry out').",
        )
        return super().response_post_save_add(request, obj)

    @admin.action(description="Carry out the selected erasures", permissions=["erase"])
    def carry_out_selected(self, request, queryset):
        for request_row in queryset:
            try:
                done = erasure.carry_out(
                    request_row, by=request.user, origin=Origin.from_request(request)
                )
            except (erasure.ErasureRefused, PermissionDenied) as exc:
                self.message_user(request, str(exc) or "Not allowed.", messages.ERROR)
                continue
            if done.status == ErasureRequest.Status.REFUSED:
                self.message_user(request, done.comment, messages.ERROR)
                continue
            touched = ", ".join(f"{place}: {n:,}" for place, n in done.counts.items() if n)
            self.message_user(
                request,
                f"Conversation {done.conversation_id} erased ({touched or 'nothing was kept'}).",
            )

    @admin.action(description="Decline the selected erasures", permissions=["erase"])
    def decline_selected(self, request, queryset):
        for request_row in queryset:
            try:
                erasure.decline(
                    request_row,
                    by=request.user,
                    comment="Declined in the admin",
                    origin=Origin.from_request(request),
                )
            except (erasure.ErasureRefused, PermissionDenied, ValidationError) as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            self.message_user(request, f"Erasure request {request_row.pk} declined.")
