import json

from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Value
from django.http import (
    Http404,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from audit import blind, diffs, services
from audit.categories import Category, category_of, category_q, not_system_q
from audit.forms import DecisionForm
from audit.models import (
    RETENTION_FLOORS,
    AuditEntry,
    LegalHold,
    OversightSettings,
    ReasonCode,
    RetentionPolicy,
    SavedView,
    SecondReview,
    StreamSampling,
    TypeLabel,
    WorkspaceSettings,
)
from audit.security import record_trail_read
from audit.selectors import insight_type_choices
from audit.services import DecisionConflict, Origin
from audit.signing import public_key_or_none
from audit.trail import ALL, CATEGORY_CHOICES, EXCEPT_SYSTEM, known_actions
from audit.views import csv_download
from audit.vocabulary import action_words, type_label, type_label_subquery, type_labels
from streams.admin_base import (
    AuditedAdmin,
    ReadOnlyAdmin,
    html_table,
    lookup_problem,
    preformatted,
)
from streams.config import changes
from streams.config.documents import ConfigImportError
from streams.genesys.knowledge import Outcome
from streams.genesys.payloads import type_words
from streams.models import ChangeRequest, Insight, KnowledgeQuery, Reviewable


class CsvExportAdmin(ReadOnlyAdmin):
    """Adds export/ beside the changelist: the CSV of the rows its current filters show."""

    export_kind = ""

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        export = path(
            "export/",
            self.admin_site.admin_view(self.export_view),
            name=f"{info[0]}_{info[1]}_export",
        )
        return [export, *super().get_urls()]

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        problem = lookup_problem(self.model, request.GET)
        if problem:
            return HttpResponseBadRequest(problem, content_type="text/plain")
        try:
            queryset = self.get_changelist_instance(request).get_queryset(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("These filters are not valid.", content_type="text/plain")
        return csv_download(request, self.export_kind, queryset, dict(request.GET.items()))


def pretty_json(value):
    return preformatted(json.dumps(value, indent=2, ensure_ascii=False))


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
    the first decision of an item while its second review waits (audit.blind)."""

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


class CategoryFilter(admin.SimpleListFilter):
    """By category; with none chosen, everything but system activity (as the trail page)."""

    title = "category"
    parameter_name = "category"

    def lookups(self, request, model_admin):
        return [choice for choice in CATEGORY_CHOICES if choice[0] != EXCEPT_SYSTEM]

    def queryset(self, request, queryset):
        if self.value() == ALL:
            return queryset
        if self.value() in Category.values:
            return queryset.filter(category_q(self.value()))
        return queryset.filter(not_system_q())

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Everything but system activity",
        }
        for value, label in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }


class ActionFilter(admin.SimpleListFilter):
    """By action, listed in words with the code beside them."""

    title = "action"
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return known_actions()

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(CsvExportAdmin):
    export_kind = "audit"
    list_display = [
        "created_at",
        "actor_label",
        "what",
        "object_repr",
        "category",
        "client_address",
    ]
    list_filter = [CategoryFilter, ActionFilter, "created_at"]
    search_fields = ["actor_label", "object_repr", "=object_id", "=request_id"]
    ordering = ["-id"]
    show_full_result_count = False
    fields = [
        "created_at",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "changes",
        "client_address",
        "request_id",
        "prev_hash",
        "entry_hash",
    ]
    readonly_fields = fields

    @admin.display(description="what", ordering="action")
    def what(self, obj):
        return f"{action_words(obj.action)} ({obj.action})"

    @admin.display(description="category")
    def category(self, obj):
        return Category(category_of(obj.action)).label

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "signing_public_key": public_key_or_none()}
        response = super().changelist_view(request, extra_context)
        if request.method == "GET" and "p" not in request.GET and response.status_code == 200:
            record_trail_read(
                user=request.user,
                what="Admin list of audit entries",
                parameters=dict(request.GET.items()),
                origin=Origin.from_request(request),
            )
        return response

    @admin.display(description="what changed")
    def changes(self, obj):
        rows = diffs.field_changes(obj.before, obj.after)
        if not rows:
            return "Nothing recorded before or after."
        return html_table(
            "What changed",
            "diff",
            ["Field", "Before", "After", "Changed?"],
            [(row.field, row.old, row.new, "changed" if row.changed else "") for row in rows],
            row_classes=["changed" if row.changed else "same" for row in rows],
        )


@admin.register(TypeLabel)
class TypeLabelAdmin(AuditedAdmin):
    """The words people read for each insight type's code."""

    list_display = ["code", "label"]
    list_editable = ["label"]
    search_fields = ["code", "label"]

    def has_delete_permission(self, request, obj=None):
        return False  # a type without a label reads as its code in words; rename instead


@admin.register(ReasonCode)
class ReasonCodeAdmin(AuditedAdmin):
    list_display = ["code", "label", "active", "position"]
    list_editable = ["active", "position"]
    list_filter = ["active"]

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


@admin.register(AccessAttempt)
class AccessAttemptAdmin(AxesAccessAttemptAdmin):
    """Failed sign-ins per user name and address (django-axes). Unlocking forgets them, so
    the pair may sign in again at once; each unlock is an audit entry."""

    actions = ["unlock_selected"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Unlock: forget these failed sign-ins", permissions=["delete"])
    def unlock_selected(self, request, queryset):
        attempts = list(queryset)
        for attempt in attempts:
            self.delete_model(request, attempt)
        self.message_user(
            request, f"{len(attempts)} user name(s) and address(es) unlocked.", messages.SUCCESS
        )

    def delete_model(self, request, obj):
        with transaction.atomic():
            before = {
                "username": obj.username,
                "client_address": obj.ip_address,
                "failures": obj.failures_since_start,
            }
            super().delete_model(request, obj)
            services.audit_record(
                action="security.unlock",
                actor=request.user,
                object_type="auth.user",
                object_id=(obj.username or "")[:64],
                object_repr=obj.username or "(no user name)",
                before=before,
                after=None,
                origin=Origin.from_request(request),
            )


class SingleRowAdmin(AuditedAdmin):
    """Settings kept in one row (the model's `current()` makes it): never added twice,
    never deleted, there before anyone opens the list."""

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not self.model.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        self.model.current()
        return super().changelist_view(request, extra_context)


@admin.register(WorkspaceSettings)
class WorkspaceSettingsAdmin(SingleRowAdmin):
    """One row: how officers share the work. Changes are audited like any configuration."""

    list_display = ["__str__", "claim_size", "claim_minutes", "assignment_hours", "updated_at"]


@admin.register(SavedView)
class SavedViewAdmin(AuditedAdmin):
    """Officers save views from the review page; here governance admins publish, rename or
    retire them."""

    list_display = ["name", "owner", "published", "query", "updated_at"]
    list_filter = ["published"]
    search_fields = ["name", "owner__username"]
    fields = ["name", "owner", "published", "query"]
    readonly_fields = ["owner"]

    def has_add_permission(self, request):
        return False  # saved from the review page, where the filters are


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(SingleRowAdmin):
    """One row: how long each kind of record is kept. Floors are enforced; changes are
    audited like any configuration."""

    list_display = ["__str__", *RETENTION_FLOORS, "updated_at"]


@admin.register(LegalHold)
class LegalHoldAdmin(AuditedAdmin):
    """Holds suspend the purge of what they cover until released; a hold is released,
    never deleted, so its history stays."""

    list_display = ["__str__", "scope", "placed_by", "placed_at", "released_at"]
    list_filter = ["scope", ("released_at", admin.EmptyFieldListFilter)]
    fields = ["scope", "stream", "interaction_id", "reason", "placed_by", "placed_at"]
    readonly_fields = ["placed_by", "placed_at"]
    actions = ["release_selected"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:  # a hold is placed, then only released
            return self.fields
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change:
            obj.placed_by = request.user
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Lift the selected holds", permissions=["change"])
    def release_selected(self, request, queryset):
        released = 0
        for hold in queryset.filter(released_at__isnull=True):
            with transaction.atomic():
                before = hold.audit_snapshot()
                hold.released_at = timezone.now()
                hold.save(update_fields=["released_at"])
                self.report(request, hold, "lift", before, hold.audit_snapshot())
            released += 1
        self.message_user(request, f"{released} hold(s) lifted.", messages.SUCCESS)


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

    @staticmethod
    def _diff(change):
        if change["after"] is None:
            return format_html("<p>{}</p>", "Deleted.")
        rows = diffs.field_changes(change["before"], change["after"])
        changed = [row for row in rows if row.changed]
        same = [row for row in rows if not row.changed]
        table = html_table(
            "What it changes",
            "diff",
            ["Field", "Now", "Proposed"],
            [(row.field, row.old, row.new) for row in changed],
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
class OversightSettingsAdmin(SingleRowAdmin):
    """One row: the shares of decisions sent to a blind second review, and the floor of
    the fast-approvals flag. Streams may have their own shares (stream sampling shares)."""

    list_display = ["__str__", "approval_share", "rejection_share", "rule_share", "fast_seconds"]
    fields = ["approval_share", "rejection_share", "rule_share", "fast_seconds"]


@admin.register(StreamSampling)
class StreamSamplingAdmin(AuditedAdmin):
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


def _unregister_what_the_environment_configures():
    """Single sign-on is configured from the environment (OIDC_*), and sign-in is by user
    name: allauth's sites, e-mail addresses, apps, tokens and linked accounts have no
    admin page."""
    from allauth.account.models import EmailAddress
    from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
    from django.contrib.sites.models import Site

    for model in (Site, EmailAddress, SocialApp, SocialToken, SocialAccount):
        if admin.site.is_registered(model):
            admin.site.unregister(model)


_unregister_what_the_environment_configures()
