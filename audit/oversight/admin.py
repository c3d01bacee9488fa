"""The admin of oversight: the settings of second reviews and sampling, second reviews
as recorded, and four-eyes change requests (accepted or declined by a second admin)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    Http404,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from audit.oversight.models import (
    Incident,
    OversightSettings,
    SecondReview,
    StreamSampling,
    TrainingAttestation,
)
from audit.trail import diffs
from audit.trail.admin import SingleRowAdmin
from streams.admin_base import (
    AuditedAdmin,
    FourEyesAdmin,
    ReadOnlyAdmin,
    html_table,
)
from streams.config import changes, preview
from streams.config.documents import ConfigImportError
from streams.genesys.payloads import type_words
from streams.models import ChangeRequest, ConfigVersion
from streams.privacy import current as privacy


@admin.register(ChangeRequest)
class ChangeRequestAdmin(ReadOnlyAdmin):
    """Four-eyes: configuration changes waiting for a second governance admin, and what
    became of the others. The page of a waiting one accepts or declines it."""

    list_display = ["__str__", "kind", "author_label", "created_at", "status", "decided_by"]
    list_filter = ["status", "kind"]
    list_select_related = ["decided_by"]
    fields = [
        "summary",
        "kind",
        "author_label",
        "created_at",
        "expires_at",
        "status",
        "decided_by",
        "decided_at",
        "comment",
        "what_changes",
    ]
    readonly_fields = fields

    def get_urls(self):
        decide = self.admin_site.admin_view(self.decide_view)
        return [
            path("<int:pk>/decide/", decide, name="streams_changerequest_decide"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        changes.expire_overdue()
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        changes.expire_overdue()
        change_request = self.get_object(request, object_id)
        may = change_request is not None and self._may_decide(request, change_request)
        return super().change_view(
            request,
            object_id,
            form_url,
            {**(extra_context or {}), "may_decide": may, "change_request": change_request},
        )

    @staticmethod
    def _may_decide(request, change_request) -> bool:
        return change_request.status == ChangeRequest.Status.PENDING and (
            request.user.has_perm("streams.decide_changerequest")
        )

    @admin.display(description="what it changes")
    def what_changes(self, obj):
        return format_html_join(
            "",
            "<h3>{}</h3>{}",
            ((change["label"], self._diff(change)) for change in obj.changes),
        )

    @classmethod
    def _diff(cls, change):
        if change["after"] is None:
            return format_html("<p>{}</p>", "Deleted.")
        return format_html("{}{}", cls._fields(change), cls._effect(change))

    @staticmethod
    def _effect(change):
        """For a confidence matrix: what the change would have done to the last days'
        insights, had it been in force (streams.config.preview)."""
        if change["model"] != "streams.confidencematrix":
            return ""
        found = preview.matrix_change_effect(change["pk"], change["before"], change["after"])
        if not found:
            return ""
        title = f"Had it been in force over the last {preview.DAYS} days"
        return format_html(
            "<h4>{}</h4>{}",
            title,
            html_table(
                title,
                "diff",
                ["Insight type", "Of", "Would have met another fate"],
                [
                    (
                        type_words(row["insight_type"]),
                        f"{row['of']:,}",
                        "; ".join(f"{n:,} {what}" for what, n in row["changed"].items()),
                    )
                    for row in found
                ],
                row_classes=["changed"] * len(found),
            ),
        )

    @staticmethod
    def _fields(change, headers=("Field", "What", "Now", "Proposed")):
        rows = diffs.field_changes(change["before"], change["after"])
        changed = [row for row in rows if row.changed]
        same = [row for row in rows if not row.changed]
        table = html_table(
            "What it changes",
            "diff",
            list(headers),
            [(row.field, row.how, row.old, row.new) for row in changed],
            row_classes=["changed"] * len(changed),
        )
        if not same:
            return table
        return format_html(
            "{}<details><summary>{} unchanged field(s)</summary>{}</details>",
            table,
            len(same),
            html_table(
                "Unchanged fields", "diff", ["Field", "Value"], [(r.field, r.old) for r in same]
            ),
        )

    def decide_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        change_request = ChangeRequest.objects.filter(pk=pk).first()
        if change_request is None:
            raise Http404(f"no change request {pk}")
        if not self.has_view_permission(request, change_request):
            raise PermissionDenied
        decide = (
            changes.change_request_accept
            if request.POST.get("decision") == "accept"
            else changes.change_request_decline
        )
        try:
            done = decide(
                change_request=change_request,
                by=request.user,
                comment=request.POST.get("comment", ""),
                request=request,
            )
        except (changes.ChangeRefused, ConfigImportError) as exc:
            self.message_user(request, str(exc), messages.ERROR)
        except ValidationError as exc:
            self.message_user(request, exc.messages[0], messages.ERROR)
        else:
            self.message_user(
                request, f"Change request {done.pk}: {done.get_status_display().lower()}."
            )
        return HttpResponseRedirect(
            reverse("admin:streams_changerequest_change", args=[change_request.pk])
        )


@admin.register(OversightSettings)
class OversightSettingsAdmin(SingleRowAdmin, FourEyesAdmin):
    """One row: the shares of decisions sent to a blind second review, and the floor of
    the fast-approvals flag. Streams may have their own shares (stream sampling shares)."""

    list_display = ["__str__", "approval_share", "rejection_share", "rule_share", "fast_seconds"]
    fields = ["approval_share", "rejection_share", "rule_share", "fast_seconds"]


@admin.register(StreamSampling)
class StreamSamplingAdmin(FourEyesAdmin):
    list_display = ["stream", "approval_share", "rejection_share"]


@admin.register(SecondReview)
class SecondReviewAdmin(ReadOnlyAdmin):
    """Every sampled decision with the second look at it and any ruling (read only: the
    second review and adjudication pages record them)."""

    list_display = [
        "__str__",
        "source",
        "first_status",
        "first_by",
        "first_rule",
        "second_status",
        "second_by",
        "outcome",
        "ruling",
        "ruled_by",
    ]
    list_filter = ["outcome", "source", "kind"]
    list_select_related = ["first_by", "second_by", "ruled_by"]


@admin.register(ConfigVersion)
class ConfigVersionAdmin(ReadOnlyAdmin):
    """Every version of the settings that judge items (matrices, streams, knowledge
    streams, the sampling plan), with what changed from the version before: an item's
    "rule that applied" names one of these."""

    list_display = ["name", "number", "created_at", "source", "actor_label"]
    list_display_links = ["name", "number"]
    search_fields = ["name"]
    date_hierarchy = "created_at"
    fields = ["name", "number", "created_at", "source", "actor_label", "what_changed"]
    readonly_fields = fields

    @admin.display(description="what changed from the version before")
    def what_changed(self, obj):
        before = (
            ConfigVersion.objects.filter(
                model=obj.model, object_pk=obj.object_pk, number__lt=obj.number
            )
            .order_by("-number")
            .first()
        )
        change = {"before": before.snapshot if before else None, "after": obj.snapshot}
        if before is None:
            change["before"] = {}
        return ChangeRequestAdmin._fields(change, ("Field", "What", "Before", "From this version"))


@admin.register(TrainingAttestation)
class TrainingAttestationAdmin(AuditedAdmin):
    """Who completed which training, when it expires, and where the proof is: the
    overseers' competence, in the evidence pack's roster."""

    list_display = ["person", "course", "completed_on", "expires_on", "state", "recorded_by"]
    list_filter = ["course"]
    search_fields = ["person__username", "course"]
    fields = ["person", "course", "completed_on", "expires_on", "evidence"]
    autocomplete_fields = []

    def save_model(self, request, obj, form, change):
        if not change:
            obj.recorded_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description="in force")
    def state(self, obj):
        if obj.expired:
            return f"Expired {obj.expires_on.isoformat()}: overdue"
        return "Yes"


class CloseForm(forms.Form):
    closing_note = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why it may be closed (the cause found and fixed, the provider's answer): "
        "kept with the incident and in the audit trail.",
    )


@admin.register(Incident)
class IncidentAdmin(FourEyesAdmin):
    """Serious incidents: recorded and updated at once by one governance admin (an incident
    must not wait), closed only when a second accepts; never deleted."""

    list_display = ["title", "occurred_at", "detected_at", "provider_informed_at", "status"]
    list_filter = ["status"]
    search_fields = ["title", "what_happened", "affected"]
    fields = [
        "title",
        "occurred_at",
        "detected_at",
        "what_happened",
        "affected",
        "provider_informed_at",
        "actions",
        "status",
        "closing_note",
        "closed_at",
        "recorded_by",
    ]
    readonly_fields = ["status", "closing_note", "closed_at", "recorded_by"]
    actions = ["close_selected"]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Recording and updating are immediate: only closing waits for a second admin.
        return super(FourEyesAdmin, self).changeform_view(
            request, object_id, form_url, extra_context
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status == Incident.Status.CLOSED:
            return self.fields
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change:
            obj.recorded_by = request.user
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Close the selected incidents", permissions=["change"])
    def close_selected(self, request, queryset):
        incidents = list(queryset.filter(status=Incident.Status.OPEN))
        if not incidents:
            self.message_user(request, "None of these incidents is open.", messages.WARNING)
            return None

        def close(incident, cleaned, now):
            incident.status = Incident.Status.CLOSED
            # Taken out now: the request and its audit entry hold the note as proposed.
            incident.closing_note = privacy.redacted(cleaned["closing_note"])
            incident.closed_at = now

        return self.reasoned_change(
            request,
            incidents,
            form=CloseForm(request.POST if "apply" in request.POST else None),
            template="admin/audit/incident/close.html",
            title="Close serious incidents",
            name="incidents",
            verb="close",
            stamp="closed_at",
            change=close,
            done=lambda n: f"{n} incident(s) closed.",
        )
