"""The dashboard, and the CSV downloads of insights, decisions, knowledge, the audit trail
and the oversight figures."""

import csv
import io
from datetime import datetime, time, timedelta

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from audit.oversight import blind, figures, second_review
from audit.oversight.models import training_warning
from audit.privacy import figures as privacy_figures
from audit.reports import dashboard as charts
from audit.reports import packs
from audit.reports.models import EvidencePack
from audit.review import exports, workspace
from audit.trail import drift, signing
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
        training=training_warning(request.user),
        genesys_changes=drift.recent_changes(),
        drift_minutes=round(settings.GENESYS_DRIFT_SECONDS / 60),
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


class EvidenceForm(forms.Form):
    since = forms.DateField(label="From (the first day)", widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(label="To (the last day)", widget=forms.DateInput({"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise ValidationError("The first day is after the last: swap them.")
        return cleaned

    def period(self):
        """The days as a half-open interval in the display time zone: midnight to the
        midnight after the last day."""
        start = timezone.make_aware(datetime.combine(self.cleaned_data["since"], time()))
        end = timezone.make_aware(
            datetime.combine(self.cleaned_data["until"] + timedelta(days=1), time())
        )
        return start, end


def _last_month():
    first = timezone.localdate().replace(day=1)
    last = first - timedelta(days=1)
    return {"since": last.replace(day=1), "until": last}


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("audit.view_evidencepack", raise_exception=True)
def evidence_page(request):
    """Ask for an evidence pack (written in the background) and download the ready ones."""
    packs.mark_stalled()
    form = EvidenceForm(initial=_last_month())
    if request.method == "POST":
        if not request.user.has_perm("audit.add_evidencepack"):
            raise PermissionDenied
        form = EvidenceForm(request.POST)
        if form.is_valid():
            since, until = form.period()
            packs.request(since=since, until=until, by=request.user)
            return HttpResponseRedirect(reverse("evidence"), status=303)
    listed = list(EvidencePack.objects.select_related("requested_by")[:50])
    busy = any(
        p.status in (EvidencePack.Status.QUEUED, EvidencePack.Status.RUNNING) for p in listed
    )
    return render(
        request,
        "audit/evidence.html",
        {
            "form": form,
            "packs": listed,
            "busy": busy,
            "may_ask": request.user.has_perm("audit.add_evidencepack"),
            "signing_public_key": signing.public_key_or_none(),
        },
    )


@require_GET
@login_required
@permission_required("audit.view_evidencepack", raise_exception=True)
def evidence_download(request, pack_id, what):
    pack = EvidencePack.objects.filter(pk=pack_id, status=EvidencePack.Status.DONE).first()
    if pack is None or what not in ("zip", "manifest"):
        raise Http404("no such evidence pack ready")
    path = packs.path_of(pack, what)
    if not path.exists():
        raise Http404("the pack's file is no longer kept on this server: ask for it again")
    record_download(
        kind="evidence",
        what="evidence pack" if what == "zip" else "evidence pack manifest",
        parameters={
            "pack": pack.pk,
            "since": pack.since.isoformat(),
            "until": pack.until.isoformat(),
        },
        actor=request.user,
        origin=Origin.from_request(request),
        sha256=pack.sha256,
    )
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=path.name,
        content_type="application/zip" if what == "zip" else "application/json",
    )
