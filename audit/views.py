"""Pages for officers, admins and auditors. Each view states who may use it."""

import itertools
import logging

from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError
from django.http import Http404, HttpResponseBadRequest, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audit import chain, exports, selectors
from audit import dashboard as charts
from audit.models import ReasonCode
from audit.services import Origin, audit_record
from streams.models import KnowledgeQuery

logger = logging.getLogger(__name__)

VIEW_INSIGHTS = "streams.view_insight"
VIEW_AUDIT = "audit.view_auditentry"


@require_GET
@login_required
@permission_required(VIEW_INSIGHTS, raise_exception=True)
def review(request):
    context = {
        "streams": selectors.stream_choices(),
        "knowledge_streams": (
            selectors.knowledge_stream_choices()
            if request.user.has_perm("streams.view_knowledgequery")
            else []
        ),
        "insight_types": selectors.insight_type_choices(),
        "knowledge_type": KnowledgeQuery.REVIEW_TYPE,
        "reason_codes": list(ReasonCode.objects.active().values("code", "label")),
        "can_review": request.user.has_perm("streams.review_insight"),
    }
    return render(request, "audit/review.html", context)


@require_GET
@login_required
def export_csv(request, kind):
    if kind not in exports.EXPORTS:
        raise Http404(f"no export named {kind}")
    if not request.user.has_perm(exports.EXPORTS[kind].permission):
        raise PermissionDenied
    try:
        queryset = exports.queryset_for(kind, request.GET)
    except ValidationError as exc:
        return HttpResponseBadRequest(exc.messages[0], content_type="text/plain")
    return csv_download(request, kind, queryset, dict(request.GET.items()))


def csv_download(request, kind, queryset, description: dict):
    """Read the first page, record the download, then stream the CSV (also used by the
    admin's export buttons). The first page is read before anything is sent, so a filter
    the database cannot apply is an error page, not a file that stops after its header."""
    chunks = exports.csv_chunks(kind, queryset)
    try:
        first = [next(chunks), next(chunks, "")]
    except DatabaseError as exc:
        logger.warning("export %s with %s failed: %s", kind, description, exc)
        return HttpResponseBadRequest(
            "These filters cannot be applied to the export; remove them and try again.",
            content_type="text/plain",
        )
    audit_record(
        action="export.download",
        actor=request.user,
        object_type="export",
        object_id=kind,
        object_repr=f"{kind} CSV",
        after={"parameters": description},
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
def audit_verify(request):
    return render(request, "audit/verify.html", {"result": chain.verify()})


@require_GET
@login_required
@permission_required(VIEW_INSIGHTS, raise_exception=True)
def dashboard(request):
    try:
        hours = charts.window_hours(request.GET.get("hours"))
    except ValidationError as exc:
        return HttpResponseBadRequest(exc.messages[0], content_type="text/plain")
    return render(request, "audit/dashboard.html", charts.dashboard_context(hours))


@require_GET
@login_required
@permission_required(VIEW_INSIGHTS, raise_exception=True)
def dashboard_health(request):
    return JsonResponse({"streams": charts.stream_health()})
