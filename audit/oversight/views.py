"""Pages for oversight: the blind second review, the adjudication of disagreements, the
oversight figures as CSV."""

from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from audit.oversight import blind
from audit.oversight import second_review as reviews
from audit.oversight.models import SecondReview
from audit.trail.record import Origin
from audit.vocabulary import ReasonCode, type_labels

SECOND_REVIEW = "audit.give_second_review"
ADJUDICATE = "audit.adjudicate_secondreview"
VIEW_INSIGHTS = "streams.view_insight"


@require_GET
@login_required
@permission_required(SECOND_REVIEW, raise_exception=True)
def second_review(request):
    """The next item to look at again, blind: no first decision, no author."""
    if not blind.may_give_second_reviews(request.user):
        raise PermissionDenied
    after = request.GET.get("after", "")
    review = reviews.next_for(request.user, after=int(after) if after.isdigit() else None)
    context = {
        "review": review,
        "item": reviews.blind_item(review) if review else None,
        "waiting": reviews.waiting_count(request.user),
        "reason_codes": ReasonCode.objects.active(),
    }
    return render(request, "audit/second_review.html", context)


@require_POST
@login_required
@permission_required(SECOND_REVIEW, raise_exception=True)
def second_review_decide(request, review_id):
    review = get_object_or_404(SecondReview, pk=review_id)
    _recorded(
        request,
        partial(
            reviews.second_review_decide,
            review=review,
            decision=request.POST.get("decision", ""),
            **_answer(request),
        ),
        done="Your second review is recorded.",
    )
    return redirect("second-review")


@require_POST
@login_required
@permission_required(SECOND_REVIEW, raise_exception=True)
def second_review_release(request, review_id):
    """Leave the item for another officer; the next one comes up."""
    review = get_object_or_404(SecondReview, pk=review_id)
    if reviews.release(review=review, by=request.user):
        messages.info(request, "Left for another officer.")
    return redirect(f"{reverse('second-review')}?after={review.pk}")


def _answer(request) -> dict:
    """Who answers, from where, with which reason code and note (both POST pages)."""
    return {
        "by": request.user,
        "reason_code": request.POST.get("reason_code", ""),
        "note": request.POST.get("note", ""),
        "origin": Origin.from_request(request),
    }


def _recorded(request, record, *, done: str, about: str = "") -> None:
    """Run `record` and say what came of it: done, refused with the reason, or taken
    by someone else first."""
    try:
        record()
    except ValidationError as exc:
        messages.error(request, f"{about}{exc.messages[0]}")
    except reviews.SecondReviewConflict as exc:
        messages.warning(request, str(exc))
    else:
        messages.success(request, done)


@require_GET
@login_required
@permission_required(ADJUDICATE, raise_exception=True)
def adjudication(request):
    """Disagreements between two officers, oldest first, each with both decisions."""
    page = Paginator(
        reviews.to_rule_on(request.user)
        .select_related("first_by", "second_by", "stream")
        .order_by("id"),
        20,
    ).get_page(request.GET.get("page"))
    reasons = dict(ReasonCode.objects.values_list("code", "label"))
    types = type_labels()
    items = reviews.items_of(page)
    rows = []
    for review in page:
        item = items.get((review.kind, review.item_id))
        if item is None:  # purged between the two reads: its second review went with it
            continue
        rows.append(
            {
                "review": review,
                "item": reviews.blind_item(review, item, types),
                "first_reason": _reason(reasons, item.review_reason_code, item.review_note),
                "second_reason": _reason(reasons, review.second_reason_code, review.second_note),
            }
        )
    context = {"page": page, "rows": rows, "reason_codes": ReasonCode.objects.active()}
    return render(request, "audit/adjudication.html", context)


def _reason(labels: dict, code: str, note: str) -> str:
    """'Outdated or withdrawn content: the fee changed in May', in words."""
    return ": ".join(part for part in (labels.get(code, code), note) if part)


@require_POST
@login_required
@permission_required(ADJUDICATE, raise_exception=True)
def adjudicate(request, review_id):
    review = get_object_or_404(SecondReview, pk=review_id)
    _recorded(
        request,
        partial(
            reviews.adjudicate,
            review=review,
            ruling=request.POST.get("ruling", ""),
            **_answer(request),
        ),
        done=f"Your ruling on item {review.item_id} is recorded.",
        about=f"Item {review.item_id}: ",
    )
    return redirect("adjudication")
