"""Pages for personal data: where it lives (the record of processing) with what was found
and who revealed what; finding a data subject; revealing one item's original."""

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.privacy import figures, processing
from audit.privacy.erasure import ERASE_PERMISSION
from audit.privacy.reveal import REVEAL_PERMISSION, REVEAL_SECONDS, NothingToReveal, reveal
from audit.privacy.subjects import KIND_WORDS, find_subject
from audit.trail.record import Origin
from streams.models import Insight, KnowledgeQuery
from streams.privacy import detect
from streams.privacy.models import PrivacySettings

VIEW_PRIVACY = "streams.view_privacysettings"


class FindSubjectForm(forms.Form):
    kind = forms.ChoiceField(label="Look up by", choices=list(KIND_WORDS.items()))
    value = forms.CharField(label="Value", max_length=200, strip=True)


@require_GET
@login_required
@permission_required(VIEW_PRIVACY, raise_exception=True)
def privacy(request):
    detection = PrivacySettings.current()
    context = {
        "policy": settings.PERSONAL_DATA_POLICY,
        "looked_for": [detect.KIND_WORDS[k] for k in detect.KINDS if k in detection.config().kinds],
        "phone_regions": detection.phone_regions,
        "detections": figures.detections(),
        "reveals": figures.reveals(),
        "places": processing.places(),
        "form": FindSubjectForm() if request.user.has_perm(ERASE_PERMISSION) else None,
    }
    return render(request, "audit/privacy/privacy.html", context)


@require_http_methods(["GET", "POST"])
@login_required
@permission_required(ERASE_PERMISSION, raise_exception=True)
def find(request):
    """A POST, so the value never reaches an address, a log line or the browser's history."""
    form = FindSubjectForm(request.POST or None)
    found = None
    if request.method == "POST" and form.is_valid():
        try:
            found = find_subject(
                kind=form.cleaned_data["kind"],
                value=form.cleaned_data["value"],
                by=request.user,
                origin=Origin.from_request(request),
            )
        except ValidationError as exc:
            form.add_error("value", exc.messages[0])
        form = FindSubjectForm(initial={"kind": form.cleaned_data.get("kind")})  # value gone
    return render(request, "audit/privacy/find.html", {"form": form, "found": found})


ITEMS = {"insight": Insight, "knowledge": KnowledgeQuery}


@require_POST
@login_required
@permission_required(REVEAL_PERMISSION, raise_exception=True)
def reveal_original(request, kind, item_id):
    if kind not in ITEMS:
        return JsonResponse({"error": {"message": f"{kind!r} is not a kind of item"}}, status=404)
    item = get_object_or_404(ITEMS[kind], pk=item_id)
    try:
        texts = reveal(
            item=item,
            by=request.user,
            reason=request.POST.get("reason", ""),
            origin=Origin.from_request(request),
        )
    except ValidationError as exc:
        return JsonResponse({"error": {"field": "reason", "message": exc.messages[0]}}, status=400)
    except NothingToReveal as exc:
        return JsonResponse({"error": {"message": str(exc)}}, status=404)
    return JsonResponse({"original": texts, "shown_for_seconds": REVEAL_SECONDS})
