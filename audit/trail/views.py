"""The audit trail's pages: the trail itself, its signed downloads and their manifests, the
chain check on demand; and the one way every CSV download leaves (`csv_download`)."""

import itertools
import logging
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from audit.trail import (
    chain,
    checkpoints,
    csvfiles,
    offline,
    pages,
    signed_exports,
    signing,
    verification,
)
from audit.trail.access import record_download, record_trail_read
from audit.trail.record import Origin

logger = logging.getLogger(__name__)

VIEW_AUDIT = "audit.view_auditentry"


def csv_download(request, kind: str, chunks, description: dict):
    """Read the first page of a CSV (`chunks`), record the download, then stream it (the
    pages' downloads and the admin's export buttons). The first page is read before anything
    is sent, so a filter the database cannot apply is an error page, not a file that stops
    after its header."""
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
        csvfiles.csv_chunks_async(itertools.chain(first, chunks)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{csvfiles.filename(kind)}"'
    return response


@require_GET
@login_required
@permission_required(VIEW_AUDIT, raise_exception=True)
def audit_trail(request):
    """The trail, newest first, filtered; opening its first page is itself an entry."""
    context = {
        "categories": pages.CATEGORY_CHOICES,
        "actions": pages.known_actions(),
        "actors": _actor_names(),
        "verification": _verification(verification.latest()),
    }
    try:
        filters = pages.TrailFilters.parse(request.GET)
        before = _entry_id(request.GET.get("before"))
    except ValidationError as exc:
        filters = pages.TrailFilters()
        context.update(form=pages.TrailFilters.raw_form(request.GET), problem=exc.messages[0])
        return render(request, "audit/trail.html", context, status=400)
    if before is None:
        record_trail_read(
            user=request.user,
            what="Trail page",
            parameters=filters.query(),
            origin=Origin.from_request(request),
        )
    entries, more = pages.page(filters, before=before)
    current = chain.head()
    through = current.entry_id if current else 0
    pinned = urlencode({**filters.query(), "through": through})
    selected = bool(signed_exports.selection(filters.query()))
    context.update(
        export_query=pinned,
        complete_query=urlencode({"through": through}) if selected else "",
        signing_public_key=signing.public_key_or_none(),
        form=filters.form_values(),
        lines=[
            {
                "entries": [(e, pages.describe(e)) for e in line.entries],
                "folded": line.folded,
                "actor": line.actor,
            }
            for line in pages.lines(entries)
        ],
        hidden=filters.hidden_count(),
        show_system=urlencode(filters.query(category=pages.ALL)),
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
        csvfiles.csv_chunks_async(signed_exports.chunks(fmt, entries)),
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


@require_GET
@login_required
@permission_required(VIEW_AUDIT, raise_exception=True)
def audit_verifier(request):
    """The standalone checker (audit.trail.offline): the code verify_export runs, as one
    file that needs only Python and `cryptography`."""
    with open(offline.__file__, "rb") as handle:
        source = handle.read()
    response = HttpResponse(source, content_type="text/x-python; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="verify_export.py"'
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
