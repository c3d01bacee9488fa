"""What the admin pages of every feature share: read-only evidence lists with checked
filters, audited changes, secrets that are write-only or shown once."""

from datetime import UTC
from functools import partial

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.core.exceptions import FieldDoesNotExist
from django.core.paginator import Paginator
from django.db import connections, models, transaction
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from streams.config import changes
from streams.config.models import ChangeRequest
from streams.config.services import config_change_report


def preformatted(text: str):
    """Outside text shown as-is in a wrapping <pre> block, escaped."""
    return format_html('<pre class="wrapped">{}</pre>', text)


def html_table(label: str, css: str, headers, rows, *, numbers=(), row_classes=None):
    """A read-only table for a detail page (outside text escaped), in a box that scrolls
    sideways by itself. The first cell of each row heads it; `numbers` are the indexes of
    right-aligned columns; `row_classes`, one per row, mark rows (a changed field, say)."""

    def cell(index, value):
        if index == 0:
            return format_html('<th scope="row">{}</th>', value)
        if index in numbers:
            return format_html('<td class="number">{}</td>', value)
        return format_html("<td>{}</td>", value)

    body = format_html_join(
        "",
        "<tr{}>{}</tr>",
        (
            (
                format_html(' class="{}"', row_classes[r]) if row_classes else "",
                format_html_join("", "{}", ((cell(i, value),) for i, value in enumerate(row))),
            )
            for r, row in enumerate(rows)
        ),
    )
    return format_html(
        '<div class="table-box" tabindex="0" role="region" aria-label="{}">'
        '<table class="{}"><thead><tr>{}</tr></thead><tbody>{}</tbody></table></div>',
        label,
        css,
        format_html_join("", '<th scope="col">{}</th>', ((h,) for h in headers)),
        body,
    )


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


class LabelledFields:
    """Gives each form field an accessible name: a tabular inline's or an editable list's
    inputs have no <label> of their own (only the column heading)."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and not field.widget.attrs.get("aria-label"):
            field.widget.attrs["aria-label"] = str(db_field.verbose_name).capitalize()
        return field


class LabelledTabularInline(LabelledFields, admin.TabularInline):
    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)

        class Labelled(formset):
            def add_fields(self, form, index):
                super().add_fields(form, index)
                if "DELETE" in form.fields:
                    form.fields["DELETE"].widget.attrs["aria-label"] = "Delete this row"

        return Labelled


class AuditedAdmin(LabelledFields, admin.ModelAdmin):
    """Reports every create, update and delete with before/after snapshots for the audit trail.

    The admin wraps a save in a transaction, so the audit entry commits with the change.
    The "after" snapshot is taken once the inlines are saved too.
    """

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def save_model(self, request, obj, form, change):
        # Kept on the form, which save_related gets too: the snapshot before any change.
        form.audit_before = type(obj).objects.get(pk=obj.pk).audit_snapshot() if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        before, after = form.audit_before, obj.audit_snapshot()
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
        config_change_report(
            obj=obj,
            verb=verb,
            before=before,
            after=after,
            actor=request.user,
            request=request,
            source="admin",
        )


class _Proposed(Exception):
    """Rolls back a save made only to see what it would change."""


class FourEyesAdmin(AuditedAdmin):
    """With FOUR_EYES on, a save or a delete here is not applied: the admin's own forms run
    (so every check holds), what they would change is recorded as a change request, and the
    transaction is rolled back. A second governance admin accepts it later."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        view = super().changeform_view
        if request.method != "POST" or not changes.four_eyes_on():
            return view(request, object_id, form_url, extra_context)
        kind = ChangeRequest.Kind.CHANGE if object_id else ChangeRequest.Kind.CREATE
        run = partial(view, request, object_id, form_url, extra_context)
        return self._proposal(request, kind, run)

    def delete_view(self, request, object_id, extra_context=None):
        view = super().delete_view
        if request.method != "POST" or not changes.four_eyes_on():
            return view(request, object_id, extra_context)
        return self._proposal(
            request, ChangeRequest.Kind.DELETE, partial(view, request, object_id, extra_context)
        )

    def changelist_view(self, request, extra_context=None):
        """Values edited in the list itself (`list_editable`) are a proposal too."""
        view = super().changelist_view
        edits = request.method == "POST" and "_save" in request.POST
        if not edits or not changes.four_eyes_on():
            return view(request, extra_context)
        return self._proposal(
            request, ChangeRequest.Kind.CHANGE, partial(view, request, extra_context)
        )

    def get_actions(self, request):
        actions = super().get_actions(request)
        if changes.four_eyes_on():
            actions.pop("delete_selected", None)  # one object at a time, each a request
        return actions

    def reasoned_change(
        self, request, objects, *, form, template, title, name, verb, stamp, change, done
    ):
        """An action that asks why, then changes each object (`change(obj, cleaned, now)`;
        `now` is None when the change is only proposed): under four-eyes one change request
        whose `stamp` field takes the time of acceptance, else applied at once, each an
        audit entry with `verb`. The form's page first (`template`, the objects as `name`)."""
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": title,
                name: objects,
                "form": form,
                "four_eyes": changes.four_eyes_on(),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, template, context)
        if changes.four_eyes_on():
            entries = []
            for obj in objects:
                before = obj.audit_snapshot()
                change(obj, form.cleaned_data, None)
                after = {**obj.audit_snapshot(), stamp: "when accepted"}
                entry = changes.change_entry(obj, before, after)
                entries.append({**entry, "stamp": [stamp], "verb": verb})
            return self.propose(request, entries)
        for obj in objects:
            with transaction.atomic():
                before = obj.audit_snapshot()
                change(obj, form.cleaned_data, timezone.now())
                obj.save()
                self.report(request, obj, verb, before, obj.audit_snapshot())
        self.message_user(request, done(len(objects)), messages.SUCCESS)
        return None

    def propose(self, request, entries: list[dict]):
        """Under four-eyes, an admin action's changes as one change request (the action
        has changed nothing); a page that says so."""
        change_request = changes.change_request_create(
            kind=ChangeRequest.Kind.CHANGE, changes=entries, author=request.user, request=request
        )
        return HttpResponseRedirect(self._announce(request, change_request))

    def _announce(self, request, change_request) -> str:
        """Say that nothing has changed yet; the change request's page."""
        messages.info(
            request,
            f"Nothing has changed yet: {change_request.summary} waits for a second governance "
            f"admin (change request {change_request.pk}). It expires in "
            f"{settings.FOUR_EYES_EXPIRY_HOURS:g} hours.",
        )
        return reverse("admin:streams_changerequest_change", args=[change_request.pk])

    def _proposal(self, request, kind, view):
        request.four_eyes = []
        try:
            with transaction.atomic():
                response = view()
                if request.four_eyes:
                    raise _Proposed
                if response.status_code == 302:
                    messages.info(request, "Nothing changed: there is nothing to ask about.")
                return response  # the form had errors, or nothing changed
        except _Proposed:
            pass
        finally:
            proposed, request.four_eyes = request.four_eyes, None
        change_request = changes.change_request_create(
            kind=kind, changes=proposed, author=request.user, request=request
        )
        url = self._announce(request, change_request)
        shown = getattr(request, "four_eyes_shown_once", None)
        if shown is not None:  # a secret made for the proposed object: shown to its author
            return self.shown_once_page(request, shown, continue_url=url)
        return HttpResponseRedirect(url)

    def report(self, request, obj, verb, before, after):
        if not _proposing(request):
            super().report(request, obj, verb, before, after)
            return
        request.four_eyes.append(changes.change_entry(obj, before, after))

    def delete_model(self, request, obj):
        if not _proposing(request):
            super().delete_model(request, obj)
            return
        request.four_eyes.append(changes.change_entry(obj, obj.audit_snapshot(), None))

    def message_user(self, request, message, *args, **kwargs):
        if not _proposing(request):  # under a proposal, "changed successfully" would lie
            super().message_user(request, message, *args, **kwargs)


def _proposing(request) -> bool:
    """Is this request's save only a proposal (FourEyesAdmin collects what it changes)?"""
    return getattr(request, "four_eyes", None) is not None


class ShownOnceAdmin(admin.ModelAdmin):
    """After a save that created a secret (an API token, a webhook signing secret), the
    response is a page that shows it, once: not a redirect with the secret in a message,
    which would carry it in a cookie (signed, not encrypted) and in the next page's cache."""

    def show_once(self, obj, *, what: str, value: str, instructions: str) -> None:
        """Show `value` on the page that answers this save (kept on the unsaved attribute
        of the object, which the response gets)."""
        obj.shown_once = {"what": what, "value": value, "instructions": instructions}

    def response_add(self, request, obj, post_url_continue=None):
        return self._shown_once(request, obj) or super().response_add(
            request, obj, post_url_continue
        )

    def response_change(self, request, obj):
        return self._shown_once(request, obj) or super().response_change(request, obj)

    def _shown_once(self, request, obj):
        shown = getattr(obj, "shown_once", None)
        if shown is None:
            return None
        if _proposing(request):
            request.four_eyes_shown_once = shown  # the save is only proposed: shown after
            return None
        opts = self.model._meta
        return self.shown_once_page(
            request, shown, reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        )

    def shown_once_page(self, request, shown: dict, continue_url: str):
        context = {
            **self.admin_site.each_context(request),
            **shown,
            "title": f"{shown['what']}: copy it now",
            "opts": self.model._meta,
            "continue_url": continue_url,
        }
        response = TemplateResponse(request, "admin/shown_once.html", context)
        response["Cache-Control"] = "no-store"
        return response


def https_by_default(field, **kwargs):
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
