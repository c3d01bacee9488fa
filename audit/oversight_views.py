"""Pages for oversight: the blind second review, the adjudication of disagreements, the
oversight figures as CSV."""

import csv
import io
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit import dashboard as charts
from audit import oversight, oversight_figures
from audit.exports import BOM, filename, neutralise
from audit.models import ReasonCode, SecondReview
from audit.security import record_download
from audit.services import REVIEW_KINDS, Origin

SECOND_REVIEW = "audit.give_second_review"
ADJUDICATE = "audit.adjudicate_secondreview"
VIEW_INSIGHTS = "streams.view_insight"


@require_GET
@login_required
@permission_required(SECOND_REVIEW, raise_exception=True)
def second_review(request):
    """The next item to look at again, blind: no first decision, no author."""
    review = oversight.next_for(request.user)
    context = {
        "review": review,
        "item": oversight.blind_item(review) if review else None,
        "waiting": oversight.waiting_count(request.user),
        "reason_codes": ReasonCode.objects.active(),
    }
    return render(request, "audit/second_review.html", context)


@require_POST
@login_required
@permission_required(SECOND_REVIEW, raise_exception=True)
def second_review_decide(request, review_id):
    review = get_object_or_404(SecondReview, pk=review_id)
    try:
        oversight.second_review_decide(
            review=review,
            by=request.user,
            decision=request.POST.get("decision", ""),
            reason_code=request.POST.get("reason_code", ""),
            note=request.POST.get("note", ""),
            origin=Origin.from_request(request),
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    except oversight.SecondReviewConflict as exc:
        messages.warning(request, str(exc))
    else:
        messages.success(request, "Your second review is recorded. Here is the next one.")
    return redirect("second-review")


@require_GET
@login_required
@permission_required(ADJUDICATE, raise_exception=True)
def adjudication(request):
    """Disagreements between two officers, oldest first, each with both decisions."""
    page = Paginator(
        SecondReview.objects.to_adjudicate()
        .select_related("first_by", "second_by", "stream")
        .order_by("id"),
        20,
    ).get_page(request.GET.get("page"))
    labels = dict(ReasonCode.objects.values_list("code", "label"))
    rows = [
        {
            "review": review,
            "item": oversight.blind_item(review),
            "first_reason": _reason(labels, *_item_reason(review)),
            "second_reason": _reason(labels, review.second_reason_code, review.second_note),
        }
        for review in page
    ]
    context = {"page": page, "rows": rows, "reason_codes": ReasonCode.objects.active()}
    return render(request, "audit/adjudication.html", context)


def _item_reason(review: SecondReview) -> tuple[str, str]:
    item = REVIEW_KINDS[review.kind].model.objects.filter(pk=review.item_id).first()
    return (item.review_reason_code, item.review_note) if item else ("", "")


def _reason(labels: dict, code: str, note: str) -> str:
    """'Outdated or withdrawn content: the fee changed in May', in words."""
    return ": ".join(part for part in (labels.get(code, code), note) if part)


@require_POST
@login_required
@permission_required(ADJUDICATE, raise_exception=True)
def adjudicate(request, review_id):
    review = get_object_or_404(SecondReview, pk=review_id)
    try:
        oversight.adjudicate(
            review=review,
            by=request.user,
            ruling=request.POST.get("ruling", ""),
            reason_code=request.POST.get("reason_code", ""),
            note=request.POST.get("note", ""),
            origin=Origin.from_request(request),
        )
    except ValidationError as exc:
        messages.error(request, f"Item {review.item_id}: {exc.messages[0]}")
    except oversight.SecondReviewConflict as exc:
        messages.warning(request, str(exc))
    else:
        messages.success(request, f"Your ruling on item {review.item_id} is recorded.")
    return redirect("adjudication")


@require_http_methods(["GET"])
@login_required
@permission_required(VIEW_INSIGHTS, raise_exception=True)
def oversight_csv(request):
    """The oversight figures over the dashboard's window, one row per officer and the team."""
    try:
        hours = charts.window_hours(request.GET.get("hours"))
    except ValidationError as exc:
        return HttpResponseBadRequest(exc.messages[0], content_type="text/plain")
    now = timezone.now()
    figures = oversight_figures.oversight(now - timedelta(hours=hours), now)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["window_start", "window_end", *oversight_figures.CSV_HEADER])
    start, end = neutralise(now - timedelta(hours=hours)), neutralise(now)
    for row in oversight_figures.csv_rows(figures):
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
