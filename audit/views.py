"""Pages for officers, admins and auditors. Each view states who may use it."""

import itertools
import logging
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit import (
    blind,
    chain,
    checkpoints,
    exports,
    oversight,
    oversight_figures,
    selectors,
    signed_exports,
    signing,
    trail,
    verification,
    vocabulary,
    workspace,
)
from audit import dashboard as charts
from audit.middleware import SESSION_TIME_ZONE
from audit.models import ReasonCode, SavedView, UserSettings, WorkspaceSettings
from audit.queue import PAGE_SIZE, SORTS
from audit.security import record_download, record_trail_read
from audit.services import REVIEW_KINDS, Origin, audit_record
from streams.models import KnowledgeQuery

logger = logging.getLogger(__name__)

VIEW_INSIGHTS = "streams.view_insight"
VIEW_AUDIT = "audit.view_auditentry"
# Saved views are part of the work: whoever reviews keeps them; auditors change nothing.
SAVE_VIEWS = "streams.review_insight"
READ_ONLY_VIEWS = "Your role reads and exports; it does not save views."


@require_GET
@login_required
@permission_required(VIEW_INSIGHTS, raise_exception=True)
def review(request):
    user = request.user
    can_assign = user.has_perm("audit.assign_items")
    labels = vocabulary.type_labels()
    context = {
        "streams": selectors.stream_choices(),
        "knowledge_streams": (
            selectors.knowledge_stream_choices()
            if user.has_perm("streams.view_knowledgequery")
            else []
        ),
        "insight_types": [
            (code, vocabulary.type_label(code, labels)) for code in selectors.insight_type_choices()
        ],
        "type_labels": labels,
        "knowledge_type": KnowledgeQuery.REVIEW_TYPE,
        "reason_codes": list(ReasonCode.objects.active().values("code", "label")),
        "can_review": user.has_perm("streams.review_insight"),
        "can_assign": can_assign,
        "can_publish": user.has_perm("audit.change_savedview"),
        "sorts": [(sort.name, sort.label) for sort in SORTS.values()],
        "workspace": WorkspaceSettings.current(),
        "page_size": PAGE_SIZE,
        "officers": _officers() if can_assign else [],
        "views": workspace.views_for(user),
    }
    return render(request, "audit/review.html", context)


def _officers() -> list[dict]:
    """Who a lead can assign items to: active users whose role decides insights."""
    deciders = get_user_model().objects.filter(
        Q(groups__permissions__codename="review_insight") | Q(is_superuser=True), is_active=True
    )
    return list(deciders.distinct().order_by("username").values("id", "username"))


@require_GET
@login_required
@permission_required(VIEW_INSIGHTS, raise_exception=True)
def review_item_context(request, kind, item_id):
    if kind == "knowledge" and not request.user.has_perm("streams.view_knowledgequery"):
        raise PermissionDenied
    try:
        context = workspace.item_context(kind, item_id, blind_to=blind.blind_viewer(request.user))
    except ValidationError as exc:
        return JsonResponse({"error": {"message": exc.messages[0]}}, status=404)
    if context["pending"] and request.user.has_perm(REVIEW_KINDS[kind].permission):
        oversight.item_opened(user=request.user, kind=kind, item_id=item_id)
    return JsonResponse(context)


@require_GET
@login_required
@permission_required(VIEW_INSIGHTS, raise_exception=True)
def review_progress(request):
    return JsonResponse(workspace.team_progress(request.user))


class SavedViewForm(forms.Form):
    name = forms.CharField(max_length=80, strip=True)
    query = forms.CharField(max_length=1000, required=False, strip=True)
    published = forms.BooleanField(required=False)

    def clean_query(self):
        return workspace.view_query(self.cleaned_data["query"])


@require_http_methods(["GET", "POST"])
@login_required
@permission_required(VIEW_INSIGHTS, raise_exception=True)
def review_views(request):
    """The user's saved views and the published ones; POST saves one (by name: a view of
    the same name is replaced). Only governance admins may publish."""
    if request.method == "POST":
        if not request.user.has_perm(SAVE_VIEWS):
            return JsonResponse({"error": {"message": READ_ONLY_VIEWS}}, status=403)
        form = SavedViewForm(request.POST)
        if not form.is_valid():
            field, errors = next(iter(form.errors.items()))
            return JsonResponse({"error": {"field": field, "message": errors[0]}}, status=400)
        published = form.cleaned_data["published"]
        if published and not request.user.has_perm("audit.change_savedview"):
            return JsonResponse(
                {"error": {"message": "Only a governance admin can publish a view."}}, status=403
            )
        _view_save(request, form.cleaned_data)
    return JsonResponse({"views": workspace.views_for(request.user)})


def _view_save(request, data) -> SavedView:
    with transaction.atomic():
        view = SavedView.objects.filter(owner=request.user, name=data["name"]).first()
        before = view.audit_snapshot() if view else None
        view = view or SavedView(owner=request.user, name=data["name"])
        view.query, view.published = data["query"], data["published"]
        view.save()
        if data["published"] or (before and before["published"]):
            audit_record(
                action="saved_view.publish" if data["published"] else "saved_view.unpublish",
                actor=request.user,
                obj=view,
                before=before,
                after=view.audit_snapshot(),
                origin=Origin.from_request(request),
            )
    return view


@require_POST
@login_required
@permission_required(VIEW_INSIGHTS, raise_exception=True)
def review_view_delete(request, view_id):
    if not request.user.has_perm(SAVE_VIEWS):
        return JsonResponse({"error": {"message": READ_ONLY_VIEWS}}, status=403)
    view = SavedView.objects.filter(pk=view_id).first()
    may = view is not None and (
        view.owner_id == request.user.pk
        or (view.published and request.user.has_perm("audit.delete_savedview"))
    )
    if not may:
        return JsonResponse({"error": {"message": "No view of yours has that id."}}, status=404)
    view.delete()
    return JsonResponse({"views": workspace.views_for(request.user)})


@require_GET
@login_required
def export_csv(request, kind):
    if kind not in exports.EXPORTS:
        raise Http404(f"no export named {kind}")
    if not request.user.has_perm(exports.EXPORTS[kind].permission):
        raise PermissionDenied
    try:
        queryset = exports.queryset_for(
            kind, request.GET, blind_to=blind.blind_viewer(request.user)
        )
    except ValidationError as exc:
        return HttpResponseBadRequest(exc.messages[0], content_type="text/plain")
    return csv_download(request, kind, queryset, dict(request.GET.items()))


def csv_download(request, kind, queryset, description: dict):
    """Read the first page, record the download, then stream the CSV (also used by the
    admin's export buttons). The first page is read before anything is sent, so a filter
    the database cannot apply is an error page, not a file that stops after its header."""
    chunks = exports.csv_chunks(kind, queryset, blind_to=blind.blind_viewer(request.user))
    try:
        first = [next(chunks), next(chunks, "")]
    except DatabaseError as exc:
        logger.warning("export %s with %s failed: %s", kind, description, exc)
        return HttpResponseBadRequest(
            "These filters cannot be applied to the export; remove them and try again.",
            content_type="text/plain",
        )
    record_download(
        kind=kind,
        what=f"{kind} CSV",
        parameters=description,
        actor=request.user,
        origin=Origin.from_request(request),
    )
    response = StreamingHttpResponse(
        exports.csv_chunks_async(itertools.chain(first, chunks)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{exports.filename(kind)}"'
    return response


@require_GET
@login_required
@permission_required(VIEW_AUDIT, raise_exception=True)
def audit_trail(request):
    """The trail, newest first, filtered; opening its first page is itself an entry."""
    context = {
        "categories": trail.CATEGORY_CHOICES,
        "actions": trail.known_actions(),
        "actors": _actor_names(),
        "verification": _verification(verification.latest()),
    }
    try:
        filters = trail.TrailFilters.parse(request.GET)
        before = _entry_id(request.GET.get("before"))
    except ValidationError as exc:
        filters = trail.TrailFilters()
        context.update(form=trail.TrailFilters.raw_form(request.GET), problem=exc.messages[0])
        return render(request, "audit/trail.html", context, status=400)
    if before is None:
        record_trail_read(
            user=request.user,
            what="Trail page",
            parameters=filters.query(),
            origin=Origin.from_request(request),
        )
    entries, more = trail.page(filters, before=before)
    current = chain.head()
    pinned = urlencode({**filters.query(), "through": current.entry_id if current else 0})
    context.update(
        export_query=pinned,
        signing_public_key=signing.public_key_or_none(),
        form=filters.form_values(),
        lines=[
            {
                "entries": [(e, trail.describe(e)) for e in line.entries],
                "folded": line.folded,
                "actor": line.actor,
            }
            for line in trail.lines(entries)
        ],
        hidden=filters.hidden_count(),
        show_system=urlencode(filters.query(category=trail.ALL)),
        older=urlencode(filters.query(before=str(entries[-1].pk))) if more else "",
        newest=urlencode(filters.query()) if before is not None else "",
        paged=before is not None,
    )
    return render(request, "audit/trail.html", context)


def _entry_id(value) -> int | None:
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise ValidationError(f"before {value[:20]!r} is not an entry number")
    return int(value)


def _actor_names() -> list[str]:
    """Who may appear as an actor, for the actor box's suggestions: people first."""
    return list(get_user_model().objects.order_by("username").values_list("username", flat=True))


def _verification(entry) -> dict | None:
    if entry is None:
        return None
    after = entry.after or {}
    return {
        "at": entry.created_at,
        "intact": entry.action == verification.INTACT,
        "checked": after.get("entries_checked"),
        "problem": after.get("problem"),
        "by": entry.actor_label,
    }


def _audit_format(fmt: str, request):
    """The export format named in the address (404 otherwise) and the request's parameters,
    pinned to the chain's head when they do not name an entry."""
    if fmt not in signed_exports.FORMATS:
        raise Http404(f"no audit export format named {fmt}")
    return signed_exports.FORMATS[fmt], signed_exports.parameters(request.GET)


@require_GET
@login_required
@permission_required(VIEW_AUDIT, raise_exception=True)
def audit_export(request, fmt):
    """The trail (filtered as on its page, pinned by `through`) as CSV or OCSF JSON lines."""
    export, params = _audit_format(fmt, request)
    try:
        entries = signed_exports.queryset(params)
    except ValidationError as exc:
        return HttpResponseBadRequest(exc.messages[0], content_type="text/plain")
    record_download(
        kind="audit",
        what=f"audit {export.label}",
        parameters=params,
        actor=request.user,
        origin=Origin.from_request(request),
    )
    response = StreamingHttpResponse(
        exports.csv_chunks_async(signed_exports.chunks(fmt, entries)),
        content_type=export.content_type,
    )
    name = signed_exports.file_name(fmt, params)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
@login_required
@permission_required(VIEW_AUDIT, raise_exception=True)
def audit_export_manifest(request, fmt):
    """The signed manifest of the file the same parameters download."""
    _, params = _audit_format(fmt, request)
    name = signed_exports.file_name(fmt, params)
    try:
        manifest = signed_exports.manifest(fmt, params, file_name=name)
    except ValidationError as exc:
        return HttpResponseBadRequest(exc.messages[0], content_type="text/plain")
    except signing.NoSigningKey as exc:
        return HttpResponse(str(exc), status=503, content_type="text/plain")
    response = JsonResponse(manifest, json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="{name}.manifest.json"'
    return response


@require_http_methods(["GET", "POST"])
@login_required
@permission_required(VIEW_AUDIT, raise_exception=True)
def audit_verify(request):
    """GET: the last check's result; POST: check the whole chain now (recorded)."""
    if request.method == "POST":
        result = verification.verify_and_record(
            actor=request.user,
            trigger="on demand",
            origin=Origin.from_request(request),
            checkpoint_source=checkpoints.folder(),
        )
        return render(request, "audit/verify.html", {"result": result, "checked_now": True})
    return render(request, "audit/verify.html", {"last": _verification(verification.latest())})


@require_GET
@login_required
@permission_required(VIEW_INSIGHTS, raise_exception=True)
def dashboard(request):
    try:
        hours = charts.window_hours(request.GET.get("hours"))
    except ValidationError as exc:
        return HttpResponseBadRequest(exc.messages[0], content_type="text/plain")
    context = charts.dashboard_context(hours)
    context.update(
        team=workspace.team_progress(request.user),
        oversight=oversight_figures.oversight(context["since"]),
        waiting=oversight.waiting_for(request.user),
    )
    return render(request, "audit/dashboard.html", context)


@require_GET
@login_required
@permission_required(VIEW_INSIGHTS, raise_exception=True)
def dashboard_health(request):
    return JsonResponse({"streams": charts.stream_health()})


class AccountForm(forms.ModelForm):
    class Meta:
        model = UserSettings
        fields = ["time_zone"]


@require_http_methods(["GET", "POST"])
@login_required
def account(request):
    """A person's own settings: the time zone they read times in."""
    current = UserSettings.objects.filter(user=request.user).first()
    instance = current or UserSettings(user=request.user, time_zone=settings.TIME_ZONE)
    form = AccountForm(request.POST or None, instance=instance)
    saved = False
    if request.method == "POST" and form.is_valid():
        form.save()
        request.session[SESSION_TIME_ZONE] = form.instance.time_zone
        timezone.activate(form.instance.time_zone)
        saved = True
    return render(
        request,
        "audit/account.html",
        {"form": form, "saved": saved, "now": timezone.now(), "default_zone": settings.TIME_ZONE},
    )
