"""The review page and the JSON it calls: an item's context, the team's progress, saved
views. Each view states who may use it."""

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import (
    JsonResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit import vocabulary
from audit.oversight import blind
from audit.review import selectors, services, workspace
from audit.review.consumers import first_page
from audit.review.kinds import REVIEW_KINDS
from audit.review.models import SavedView, WorkspaceSettings
from audit.review.queue import PAGE_SIZE, SORTS
from audit.trail.record import Origin, audit_record
from audit.vocabulary import ReasonCode
from streams.config import changes
from streams.models import KnowledgeQuery

VIEW_INSIGHTS = "streams.view_insight"
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
        "type_meanings": vocabulary.type_meanings(),
        "knowledge_type": KnowledgeQuery.REVIEW_TYPE,
        "reason_codes": list(ReasonCode.objects.active().values("code", "label", "insight_types")),
        "can_review": user.has_perm("streams.review_insight"),
        "can_assign": can_assign,
        "can_publish": user.has_perm("audit.change_savedview"),
        "sorts": [(sort.name, sort.label) for sort in SORTS.values()],
        "workspace": WorkspaceSettings.current(),
        "page_size": PAGE_SIZE,
        "officers": _officers() if can_assign else [],
        "views": workspace.views_for(user),
        # Where a data protection officer reveals an item's original: + "<kind>/<id>/".
        "reveal_url": (
            reverse("privacy-reveal", args=["k", 0]).removesuffix("k/0/")
            if user.has_perm("streams.reveal_original")
            else ""
        ),
    }
    # The first rows come with the page (the socket sends them again once it is open, and
    # keeps them current): an officer sees them without waiting for the socket.
    context["first_page"] = first_page(user, request.GET)
    if context["first_page"] is not None:
        context["first_page"]["query"] = request.META.get("QUERY_STRING", "")
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
        services.item_opened(user=request.user, kind=kind, item_id=item_id)
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
        waiting = _view_save(request, form.cleaned_data)
        if waiting is not None:
            return JsonResponse(
                {
                    "views": workspace.views_for(request.user),
                    "message": f"Saved for you. What every officer sees waits for a second "
                    f"governance admin (change request {waiting.pk}).",
                }
            )
    return JsonResponse({"views": workspace.views_for(request.user)})


def _view_save(request, data):
    """Save the user's view; under four-eyes, what a published view shows every officer
    (publishing, or changing a published one) is a change request, returned."""
    with transaction.atomic():
        view = SavedView.objects.filter(owner=request.user, name=data["name"]).first()
        before = view.audit_snapshot() if view else None
        view = view or SavedView(owner=request.user, name=data["name"])
        if changes.four_eyes_on() and (data["published"] or (before and before["published"])):
            if view.pk is None:  # the owner keeps it at once, for themselves
                view.query = data["query"]
                view.save()
                before = view.audit_snapshot()
            view.query, view.published = data["query"], data["published"]
            return changes.change_request_create(
                kind="change",
                changes=[changes.change_entry(view, before, view.audit_snapshot())],
                author=request.user,
                request=request,
            )
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
    return None  # saved as asked: nothing waits


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
    if view.published and changes.four_eyes_on():
        waiting = changes.change_request_create(
            kind="delete",
            changes=[changes.change_entry(view, view.audit_snapshot(), None)],
            author=request.user,
            request=request,
        )
        return JsonResponse(
            {
                "views": workspace.views_for(request.user),
                "message": f"Every officer sees this view: removing it waits for a second "
                f"governance admin (change request {waiting.pk}).",
            }
        )
    view.delete()
    return JsonResponse({"views": workspace.views_for(request.user)})
