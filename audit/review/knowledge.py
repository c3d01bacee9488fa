"""Knowledge search for people (the query console) and for agent desktops (the JSON API).

Both call `streams.knowledge.search.knowledge_search`, which validates, caches, records and
audits."""

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator
from pydantic import ValidationError as PydanticValidationError

from audit.trail.access import record_token_refused
from audit.trail.record import Origin
from streams.genesys.knowledge import printable_id
from streams.knowledge.search import KnowledgeError, knowledge_search
from streams.knowledge.specs import load_spec
from streams.models import ApiToken, KnowledgeQuery, KnowledgeStream

RUN_QUERIES = "streams.run_knowledgequery"
FIELD_NAMES = {"query_text": "query", "queryText": "query", "conversationId": "conversation_id"}


class SearchBody(BaseModel):
    """What an agent desktop posts to /api/knowledge/search."""

    model_config = ConfigDict(extra="forbid")

    stream: StrictStr = Field(min_length=1, max_length=100)
    query: StrictStr = Field(min_length=1, max_length=2000)
    conversation_id: StrictStr = Field(default="api", min_length=1, max_length=128)
    wait: StrictBool = True

    _printable = field_validator("conversation_id")(printable_id)


async def run_search(*, stream: str, query: str, conversation_id: str, **how) -> KnowledgeQuery:
    """One search, with bad input reported as a KnowledgeError naming its field."""
    spec = await sync_to_async(load_spec)(stream)
    try:
        return await knowledge_search(spec=spec, text=query, conversation_id=conversation_id, **how)
    except PydanticValidationError as exc:
        error = exc.errors()[0]
        where = FIELD_NAMES.get(str(error["loc"][0]), str(error["loc"][0]))
        message = error["msg"].removeprefix("Value error, ")
        raise KnowledgeError(
            f"{where}: {message}", status=400, code="invalid", field=where
        ) from None


@require_http_methods(["GET", "POST"])
@login_required
@permission_required(RUN_QUERIES, raise_exception=True)
async def console(request):
    streams = await sync_to_async(_stream_names)()
    form = {
        "stream": request.POST.get("stream", streams[0] if streams else ""),
        "query": request.POST.get("query", ""),
        "conversation_id": request.POST.get("conversation_id", ""),
    }
    context = {"streams": streams, "form": form}
    if request.method == "POST":
        user = await request.auser()
        try:
            query = await run_search(
                stream=form["stream"],
                query=form["query"],
                conversation_id=form["conversation_id"].strip() or f"console-{user.pk}",
                origin=KnowledgeQuery.Origin.CONSOLE,
                requested_by=user.get_username(),
                client_address=Origin.from_request(request).client_address,
            )
        except KnowledgeError as exc:
            context["error"] = str(exc)
        else:
            context.update(
                query=query, passed=query.passed_results(), filtered=query.filtered_results()
            )
    # The page's header reads the user's groups: render where the ORM may run.
    return await sync_to_async(render)(request, "audit/knowledge.html", context)


def _stream_names() -> list[str]:
    return list(KnowledgeStream.objects.filter(enabled=True).values_list("name", flat=True))


@csrf_exempt  # authenticated by a bearer token, not a cookie: CSRF does not apply
@require_POST
async def api_search(request):
    token = await sync_to_async(_authenticate)(request.headers.get("Authorization", ""))
    if token is None:
        await sync_to_async(record_token_refused)(
            where=request.path,
            reason="a token was sent but it is unknown or revoked"
            if request.headers.get("Authorization")
            else "no token was sent",
            origin=Origin.from_request(request),
        )
        response = _error(401, "unauthorized", "send a valid API token: Authorization: Bearer …")
        response["WWW-Authenticate"] = 'Bearer realm="assistgov"'
        return response
    try:
        body = SearchBody.model_validate_json(request.body)
    except RequestDataTooBig:
        return _error(
            413,
            "too_large",
            f"the body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes; a search needs a "
            "few hundred",
        )
    except PydanticValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "body"
        message = error["msg"].removeprefix("Value error, ")
        return _error(400, "invalid", f"{where}: {message}", field=where)
    try:
        query = await run_search(
            stream=body.stream,
            query=body.query,
            conversation_id=body.conversation_id,
            origin=KnowledgeQuery.Origin.API,
            requested_by=f"API token {token.name}",
            wait=body.wait,
            client_address=Origin.from_request(request).client_address,
        )
    except KnowledgeError as exc:
        return _error(exc.status, exc.code, str(exc), field=exc.field)
    return JsonResponse(
        {
            "query_id": query.query_id,
            "stream": body.stream,
            "conversation_id": query.conversation_id,
            "governance_status": query.governance_status,
            "cache_hit": query.cache_hit,
            "latency_ms": round(query.latency_ms, 2),
            "results": query.passed_results(),
            "filtered": query.filtered_results(),
        }
    )


def _authenticate(header: str) -> ApiToken | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    token = ApiToken.authenticate(value.strip())
    if token is not None:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


def _error(status: int, code: str, message: str, *, field: str = "") -> JsonResponse:
    error = {"code": code, "message": message}
    if field:
        error["field"] = field
    return JsonResponse({"error": error}, status=status, json_dumps_params={"ensure_ascii": False})
