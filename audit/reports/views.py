"""The dashboard, and the CSV downloads of insights, decisions, knowledge, the audit trail
and the oversight figures."""

import csv
import io
from datetime import timedelta

from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from audit.oversight import blind, figures, second_review
from audit.privacy import figures as privacy_figures
from audit.reports import dashboard as charts
from audit.review import exports, workspace
from audit.trail.access import record_download
from audit.trail.csvfiles import BOM, filename, neutralise
from audit.trail.record import Origin
from audit.trail.views import csv_download

VIEW_INSIGHTS = "streams.view_insight"


@require_GET
@login_required
def export_csv(request, kind):
    if kind not in exports.EXPORTS:
        raise Http404(f"no export named {kind}")
    if not request.user.has_perm(exports.EXPORTS[kind].permission):
        raise PermissionDenied
    viewer = blind.blind_viewer(request.user)
    try:
        queryset = exports.queryset_for(kind, request.GET, blind_to=viewer)
    except ValidationError as exc:
        return HttpResponseBadRequest(exc.messages[0], content_type="text/plain")
    chunks = exports.chunks(kind, queryset, blind_to=viewer)
    return csv_download(request, kind, chunks, dict(request.GET.items()))


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
        oversight=figures.oversight(context["since"]),
        waiting=second_review.waiting_for(request.user),
        personal={
            "detections": privacy_figures.detections(7),
            "reveals": privacy_figures.reveals(),
        },
    )
    return render(request, "audit/dashboard.html", context)


@require_GET
@login_required
@permission_required(VIEW_INSIGHTS, raise_exception=True)
def dashboard_health(request):
    return JsonResponse({"streams": charts.stream_health()})


@require_http_methods(["GET"])
@login_required
@permission_required(VIEW_INSIGHTS, raise_exception=True)
def oversight_csv(request):
    """The oversight figures over the dashboard's window, one row per officer and the team."""
    try:
        hours = charts.window_hours(request.GET.get("hours"))
    except ValidationError as exc:
        return HttpResponseBadRequest(exc.messages[0], content_type="text/plain")
    end = timezone.now()
    start = end - timedelta(hours=hours)
    found = figures.oversight(start, end)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["window_start", "window_end", *figures.CSV_HEADER])
    start, end = neutralise(start), neutralise(end)
    for row in figures.csv_rows(found):
        writer.writerow([start, end, *(neutralise(value) for value in row)])
    record_download(
        kind="oversight",
        what="oversight figures CSV",
        parameters={"hours": hours},
        actor=request.user,
        origin=Origin.from_request(request),
    )
    response = HttpResponse(BOM + out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename("oversight")}"'
    return response
