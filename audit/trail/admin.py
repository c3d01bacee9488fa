"""The trail in the admin: audit entries (read only, by category), the retention policy,
legal holds; and what other admins build on (CSV export buttons, single-row settings)."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import (
    HttpResponseBadRequest,
)
from django.urls import path

from audit.trail import csvfiles, diffs
from audit.trail.access import record_trail_read
from audit.trail.categories import Category, category_of, category_q, not_system_q
from audit.trail.models import RETENTION_FLOORS, AuditEntry, LegalHold, RetentionPolicy
from audit.trail.pages import ALL, CATEGORY_CHOICES, EXCEPT_SYSTEM, known_actions
from audit.trail.record import Origin
from audit.trail.signing import public_key_or_none
from audit.trail.views import csv_download
from audit.trail.words import action_words
from streams.admin_base import (
    AuditedAdmin,
    FourEyesAdmin,
    ReadOnlyAdmin,
    html_table,
    lookup_problem,
    preformatted,
)


class CsvExportAdmin(ReadOnlyAdmin):
    """Adds export/ beside the changelist: the CSV of the rows its current filters show."""

    export_kind = ""

    def export_chunks(self, request, queryset):
        """The CSV of these rows (the audit trail's, unless an admin says otherwise)."""
        return csvfiles.csv_chunks(csvfiles.AUDIT_EXPORT, queryset)

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
        chunks = self.export_chunks(request, queryset)
        return csv_download(request, self.export_kind, chunks, dict(request.GET.items()))


def pretty_json(value):
    return preformatted(json.dumps(value, indent=2, ensure_ascii=False))


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


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(SingleRowAdmin, FourEyesAdmin):
    """One row: how long each kind of record is kept. Floors are enforced; changes are
    audited like any configuration."""

    list_display = ["__str__", *RETENTION_FLOORS, "updated_at"]


class LiftForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why the hold may end (the matter closed, the request withdrawn): kept with "
        "the hold and in the audit trail.",
    )


class HoldStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "In force"), ("lifted", "Lifted")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(released_at__isnull=True)
        if self.value() == "lifted":
            return queryset.filter(released_at__isnull=False)
        return queryset


@admin.register(LegalHold)
class LegalHoldAdmin(FourEyesAdmin):
    """Holds suspend the purge of what they cover until released; a hold is released,
    never deleted, so its history stays. Placing and lifting one are four-eyes changes, and
    lifting says why."""

    list_display = ["__str__", "scope", "placed_by", "placed_at", "released_at", "release_reason"]
    list_filter = ["scope", HoldStateFilter]
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
        holds = list(queryset.filter(released_at__isnull=True))
        if not holds:
            self.message_user(request, "None of these holds is active.", messages.WARNING)
            return None

        def lift(hold, cleaned, now):
            hold.release_reason, hold.released_at = cleaned["reason"], now

        return self.reasoned_change(
            request,
            holds,
            form=LiftForm(request.POST if "apply" in request.POST else None),
            template="admin/audit/legalhold/lift.html",
            title="Lift legal holds",
            name="holds",
            verb="lift",
            stamp="released_at",
            change=lift,
            done=lambda n: f"{n} hold(s) lifted.",
        )
