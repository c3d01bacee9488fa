"""Error pages in the app's own frame: what happened, in words, and what to do.

Pages get the navigation and a sentence naming the user's role and who can help; the JSON
endpoints the pages call keep answering JSON (`{"error": {"message": ...}}`).
"""

from django.http import HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.urls import Resolver404, resolve

# What a person tried to open, by the start of its address.
PLACES = (
    ("/admin/", "this admin page"),
    ("/audit/", "the audit trail"),
    ("/export/", "this export"),
    ("/dashboard/", "the dashboard"),
    ("/knowledge/", "the knowledge console"),
    ("/review/", "the review queue"),
    ("/metrics", "the metrics"),
)
JSON_URLS = frozenset(
    {
        "review-item-context",
        "review-progress",
        "review-views",
        "review-view-delete",
        "dashboard-health",
        "knowledge-api-search",
    }
)


def place(path: str) -> str:
    return next((words for prefix, words in PLACES if path.startswith(prefix)), "this page")


def wants_json(request) -> bool:
    if request.path.startswith("/api/"):
        return True
    try:
        return resolve(request.path_info).url_name in JSON_URLS
    except Resolver404:
        return False


def roles(user) -> str:
    """ "Compliance officers", or "Auditors and Governance admins"."""
    if not user.is_authenticated:
        return ""
    names = sorted(user.groups.values_list("name", flat=True))
    if user.is_superuser:
        names.append("superuser")
    if len(names) > 1:
        return ", ".join(names[:-1]) + " and " + names[-1]
    return names[0] if names else "no role"


def permission_denied(request, exception=None):
    from audit.trail.access import record_denied
    from audit.trail.record import Origin

    where = place(request.path)
    role = roles(request.user)
    record_denied(
        user=request.user,
        where=request.get_full_path(),
        what=f"{request.method} {where}",
        role=role,
        origin=Origin.from_request(request),
    )
    if not role:
        message = f"You cannot open {where}."
    elif role == "no role":
        message = f"Your account has no role yet, so it cannot open {where}."
    else:
        message = f"Your role, {role}, cannot open {where}."
    if wants_json(request):
        return JsonResponse({"error": {"message": message}}, status=403)
    context = {"heading": "Not allowed", "message": message, "advice": "advice_403"}
    return render(request, "error.html", context, status=403)


def page_not_found(request, exception=None):
    message = "There is nothing at this address."
    if wants_json(request):
        return JsonResponse({"error": {"message": message}}, status=404)
    context = {"heading": "Not found", "message": message, "advice": "advice_404"}
    return render(request, "error.html", context, status=404)


def server_error(request):
    """Renders without the database: it may be what failed."""
    message = "Something went wrong on our side; nothing you did caused it."
    if wants_json(request):
        return JsonResponse({"error": {"message": message}}, status=500)
    context = {"heading": "Server error", "message": message, "advice": "advice_500"}
    # No request context: reading the user needs the database.
    return HttpResponseServerError(loader.render_to_string("error.html", context))


def csrf_failure(request, reason=""):
    message = (
        "This form was sent from a page that is too old or from another site, "
        "so it was not accepted. Nothing was changed."
    )
    if wants_json(request):
        return JsonResponse({"error": {"message": message}}, status=403)
    context = {"heading": "Form not accepted", "message": message, "advice": "advice_csrf"}
    return render(request, "error.html", context, status=403)


def method_not_allowed(request, response):
    """A 405 in words (Django's is an empty body the browser shows as its own error): what
    the address takes, page or JSON, keeping the Allow header."""
    allowed = response.get("Allow", "")
    message = f"This address does not answer {request.method} requests" + (
        f"; it takes {allowed.replace(', ', ' and ')}." if allowed else "."
    )
    if wants_json(request):
        answer = JsonResponse({"error": {"message": message}}, status=405)
    else:
        context = {"heading": "Not this way", "message": message, "advice": "advice_405"}
        answer = render(request, "error.html", context, status=405)
    if allowed:
        answer["Allow"] = allowed
    return answer
