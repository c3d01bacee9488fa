"""The review's admin pages: insights and knowledge answers (read only, with their review
decisions hidden where a blind second review waits, decided in bulk with a reason, exported
as CSV), the words for types and reason codes, workspace settings and saved views."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Value
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.formats import date_format

from audit.oversight import blind
from audit.review import exports, services
from audit.review.forms import DecisionForm
from audit.review.models import SavedView, WorkspaceSettings
from audit.review.selectors import insight_type_choices
from audit.review.services import DecisionConflict
from audit.trail.admin import CsvExportAdmin, SingleRowAdmin, pretty_json
from audit.trail.record import Origin
from audit.vocabulary import ReasonCode, TypeLabel, type_label, type_label_subquery, type_labels
from streams.admin_base import (
    FourEyesAdmin,
    LinesField,
    html_table,
)
from streams.genesys.knowledge import Outcome
from streams.genesys.payloads import type_words
from streams.models import Insight, KnowledgeQuery, Reviewable


class ReviewStatusFilter(admin.SimpleListFilter):
    """By review status; for someone blind to decisions under a second review, a decided
    status leaves those items out (listed under it, the hidden decision would show)."""

    title = "review status"
    parameter_name = "review_status"

    def lookups(self, request, model_admin):
        return Reviewable.ReviewStatus.choices

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        queryset = queryset.filter(review_status=self.value())
        viewer = blind.blind_viewer(request.user)
        if viewer is not None and self.value() != Reviewable.ReviewStatus.PENDING:
            queryset = queryset.exclude(blind.hidden_q(request.blind_kind, viewer))
        return queryset


class BlindReviewAdmin(CsvExportAdmin):
    """An admin of reviewable items that hides, from whoever gives blind second reviews,
    the first decision of an item while its second review waits (audit.oversight.blind)."""

    review_kind = ""
    REVIEW_FIELDS = (
        "review_status",
        "reviewed_by",
        "reviewed_at",
        "review_reason_code",
        "review_note",
        "review_rule",
        "corrected_text",
        "review_opened_at",
        "review_decision_id",
    )

    def export_chunks(self, request, queryset):
        return exports.chunks(self.export_kind, queryset, blind_to=blind.blind_viewer(request.user))

    def get_queryset(self, request):
        request.blind_kind = self.review_kind
        queryset = super().get_queryset(request)
        viewer = blind.blind_viewer(request.user)
        if viewer is None:
            return queryset.annotate(blind_hidden=Value(False))
        return queryset.annotate(blind_hidden=blind.hidden_q(self.review_kind, viewer))

    @admin.display(description="review status", ordering="review_status")
    def status_shown(self, obj):
        if getattr(obj, "blind_hidden", False):
            return blind.UNDER_REVIEW_WORDS
        return obj.get_review_status_display()

    def _hidden(self, request, obj) -> bool:
        return obj is not None and blind.is_hidden(
            self.review_kind, obj.pk, blind.blind_viewer(request.user)
        )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not self._hidden(request, obj):
            return fieldsets
        hidden = set(self.REVIEW_FIELDS)
        shown = [
            (name, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
            for name, options in fieldsets
        ]
        return [*shown, ("Review", {"fields": ["status_shown"]})]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "status_shown"]


class InsightTypeFilter(admin.SimpleListFilter):
    """By insight type, listed by label."""

    title = "insight type"
    parameter_name = "insight_type"

    def lookups(self, request, model_admin):
        labels = type_labels()
        return [(code, type_label(code, labels)) for code in insight_type_choices()]

    def queryset(self, request, queryset):
        return queryset.filter(insight_type=self.value()) if self.value() else queryset


@admin.register(Insight)
class InsightAdmin(BlindReviewAdmin):
    export_kind = "insights"
    review_kind = "insight"
    list_display = [
        "received",
        "type_display",
        "confidence_display",
        "relevance_display",
        "snippet",
        "status_shown",
    ]
    list_filter = [ReviewStatusFilter, InsightTypeFilter, "stream", "received_at"]
    search_fields = ["=interaction_id", "=external_id", "snippet"]
    list_select_related = ["stream", "reviewed_by"]
    ordering = ["-received_at"]
    show_full_result_count = False
    actions = ["approve_selected", "reject_selected"]
    fieldsets = [
        (None, {"fields": ["stream", "external_id", "interaction_id", "type_display", "snippet"]}),
        ("Scoring", {"fields": ["confidence_display", "relevance_display"]}),
        ("Timing", {"fields": ["event_time", "received_at", "latency_display"]}),
        (
            "Review",
            {
                "fields": [
                    "review_status",
                    "reviewed_by",
                    "reviewed_at",
                    "review_reason_code",
                    "review_note",
                    "review_rule",
                ]
            },
        ),
        ("Raw payload", {"fields": ["raw_payload"], "classes": ["collapse"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [f for fieldset in self.fieldsets for f in fieldset[1]["fields"]] + ["status_shown"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(type_label_set=type_label_subquery())

    @admin.display(description="received", ordering="received_at")
    def received(self, obj):
        return date_format(timezone.localtime(obj.received_at), "Y-m-d H:i:s T")

    @admin.display(description="insight type", ordering="insight_type")
    def type_display(self, obj):
        return getattr(obj, "type_label_set", None) or type_words(obj.insight_type)

    @admin.display(description="processing latency")
    def latency_display(self, obj):
        return "-" if obj.latency_ms is None else f"{obj.latency_ms:.1f} ms"

    @admin.display(description="confidence", ordering="confidence")
    def confidence_display(self, obj):
        return _score(obj.confidence)

    @admin.display(description="relevance", ordering="relevance_score")
    def relevance_display(self, obj):
        return _score(obj.relevance_score)

    @admin.display(description="raw payload")
    def raw_payload(self, obj):
        return pretty_json(obj.payload)

    def has_review_permission(self, request):
        return request.user.has_perm("streams.review_insight")

    @admin.action(description="Approve selected insights", permissions=["review"])
    def approve_selected(self, request, queryset):
        return self._decision_page(request, queryset, "approve")

    @admin.action(description="Reject selected insights", permissions=["review"])
    def reject_selected(self, request, queryset):
        return self._decision_page(request, queryset, "reject")

    def _decision_page(self, request, queryset, decision):
        """Ask for the reason and note, then decide each selected insight."""
        reject = decision == "reject"
        form = DecisionForm(request.POST if "apply" in request.POST else None, reject=reject)
        if form.is_bound and form.is_valid():
            self._apply(request, queryset, reject, form.cleaned_data)
            return None
        label = "Reject" if reject else "Approve"
        context = {
            **self.admin_site.each_context(request),
            "title": f"{label} {queryset.count()} insight(s)",
            "opts": self.model._meta,
            "form": form,
            "insights": queryset.select_related("stream")[:100],
            "count": queryset.count(),
            "action": f"{decision}_selected",
            "label": label,
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/streams/insight/decide.html", context)

    def _apply(self, request, queryset, reject, data):
        decided, conflicts = 0, []
        origin = Origin.from_request(request)
        for insight in queryset.select_related("reviewed_by"):
            try:
                if reject:
                    services.item_reject(
                        item=insight,
                        by=request.user,
                        reason_code=data["reason_code"],
                        note=data["note"],
                        origin=origin,
                    )
                else:
                    services.item_approve(
                        item=insight, by=request.user, note=data["note"], origin=origin
                    )
                decided += 1
            except DecisionConflict as exc:
                conflicts.append(exc.words_for(blind.blind_viewer(request.user)))
        if decided:
            verb = "Rejected" if reject else "Approved"
            self.message_user(request, f"{verb} {decided} insight(s).", messages.SUCCESS)
        for conflict in conflicts[:20]:
            self.message_user(request, f"Not changed: {conflict}", messages.WARNING)
        if len(conflicts) > 20:
            self.message_user(
                request, f"{len(conflicts) - 20} more were already decided.", messages.WARNING
            )


@admin.register(TypeLabel)
class TypeLabelAdmin(FourEyesAdmin):
    """The words people read for each insight type's code."""

    list_display = ["code", "label"]
    list_editable = ["label"]
    search_fields = ["code", "label"]

    def has_delete_permission(self, request, obj=None):
        return False  # a type without a label reads as its code in words; rename instead


class ReasonCodeForm(forms.ModelForm):
    insight_types = LinesField(
        required=False,
        label="Only for these types",
        help_text="Insight type codes, one per line (knowledge.answer for knowledge answers): "
        "the reason is offered only for items of these types. Empty: for every type.",
    )

    class Meta:
        model = ReasonCode
        fields = ["code", "label", "active", "position", "insight_types"]


@admin.register(ReasonCode)
class ReasonCodeAdmin(FourEyesAdmin):
    form = ReasonCodeForm
    list_display = ["code", "label", "active", "position", "types"]
    list_editable = ["active", "position"]
    list_filter = ["active"]

    @admin.display(description="for")
    def types(self, obj):
        return ", ".join(type_label(t) for t in obj.insight_types) or "Every type"

    def has_delete_permission(self, request, obj=None):
        # Decisions refer to codes by name: retire a code (active off) instead.
        return False


@admin.register(KnowledgeQuery)
class KnowledgeQueryAdmin(BlindReviewAdmin):
    """Every knowledge query and what governance made of it: evidence, read-only."""

    export_kind = "knowledge"
    review_kind = "knowledge"
    list_display = [
        "created_at",
        "stream",
        "query_text",
        "origin",
        "status",
        "governance_status",
        "results_validated",
        "results_returned",
        "cache_hit",
        "latency",
        "status_shown",
    ]
    list_filter = [
        ReviewStatusFilter,
        "status",
        "governance_status",
        "origin",
        "cache_hit",
        "stream",
        "created_at",
    ]
    search_fields = ["=query_id", "=conversation_id", "query_text"]
    list_select_related = ["stream"]
    show_full_result_count = False
    readonly_fields = ["results_display"]
    exclude = ["results"]

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, obj):
        return f"{obj.latency_ms:.1f} ms"

    @admin.display(description="results")
    def results_display(self, obj):
        if not obj.results:
            return "No results."
        return html_table(
            "Results",
            "results",
            ["Rank", "Knowledge base", "Title", "Confidence", "Last updated", "Outcome", "Reason"],
            [
                (
                    result.get("rank") or "-",
                    result.get("knowledge_base_id", ""),
                    result.get("title", ""),
                    _score(result.get("confidence")),
                    result.get("last_updated") or "-",
                    Outcome.label_of(result.get("outcome", "")),
                    result.get("reason", ""),
                )
                for result in obj.results
            ],
            numbers={3},
        )


def _score(value: float | None) -> str:
    """A confidence or relevance to three places; "none" for an insight that carries none."""
    return "none" if value is None else f"{value:.3f}"


@admin.register(WorkspaceSettings)
class WorkspaceSettingsAdmin(SingleRowAdmin):
    """One row: how officers share the work. Changes are audited like any configuration."""

    list_display = ["__str__", "claim_size", "claim_minutes", "assignment_hours", "updated_at"]


@admin.register(SavedView)
class SavedViewAdmin(FourEyesAdmin):
    """Officers save views from the review page; here governance admins publish, rename or
    retire them."""

    list_display = ["name", "owner", "published", "query", "updated_at"]
    list_filter = ["published"]
    search_fields = ["name", "owner__username"]
    fields = ["name", "owner", "published", "query"]
    readonly_fields = ["owner"]

    def has_add_permission(self, request):
        return False  # saved from the review page, where the filters are
