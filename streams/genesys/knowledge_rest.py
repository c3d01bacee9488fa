"""Knowledge search over REST (the notifications flavour, PROTOCOL.md section 2).

`POST /api/v2/knowledge/knowledgebases/{id}/documents/search` once per knowledge source,
concurrently. The answers are put in the shape the seed flavour's results have, so the
same validation (confidence, freshness from `document.dateModified`), ranking (source
priority, then confidence), cache and audit apply to both flavours.

The client offers what `KnowledgeClient` offers (query, start, close, state), with the
same guarantees: at most `max_in_flight` queries, each ending exactly once within its
time limit. A query fails as a whole when any source fails: an answer silently missing
its first-priority source would rank the others above what the agent should have seen.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, Field, ValidationError

from streams.genesys import rest
from streams.genesys.auth import TokenManager
from streams.genesys.errors import AuthenticationError, RateLimited
from streams.genesys.knowledge import (
    Answer,
    KnowledgeSourceRef,
    Limiter,
    QueryBusy,
    QueryFailed,
    QueryLost,
    QueryRefused,
    QueryTimedOut,
    SearchRequest,
    Unavailable,
)
from streams.genesys.sessions import ClientState

logger = logging.getLogger(__name__)

SEARCH_PATH = "/api/v2/knowledge/knowledgebases/{}/documents/search"
SNIPPET_LIMIT = 1000


class SearchResponse(BaseModel):
    search_id: str | None = Field(default=None, alias="searchId")
    results: list[Any] = Field(default_factory=list)


def as_result(item: Any, knowledge_base_id: str) -> Any:
    """One REST search result in the seed flavour's result shape (anything malformed is
    passed on as it is, for validation to reject with its reason)."""
    if not isinstance(item, dict) or not isinstance(item.get("document"), dict):
        return item
    document = item["document"]
    version = document.get("documentVersion")
    variations = document.get("variations")
    variation = variations[0] if isinstance(variations, list) and variations else None
    return {
        "documentId": document.get("id"),
        # What document feedback names (the SDK's KnowledgeDocumentFeedback).
        "versionId": version.get("id") if isinstance(version, dict) else None,
        "variationId": variation.get("id") if isinstance(variation, dict) else None,
        "title": document.get("title"),
        "snippet": document_text(document)[:SNIPPET_LIMIT],
        "url": document.get("externalUrl") or "",
        "knowledgeBaseId": knowledge_base_id,
        "confidenceScore": item.get("confidence"),
        "lastUpdated": document.get("dateModified"),
    }


def document_feedback_body(
    *,
    rating: str,
    comment: str,
    document_id: str,
    version_id: str,
    variation_id: str,
    knowledge_base_id: str = "",
    state: str = "Final",
) -> dict:
    """The SDK's `KnowledgeDocumentFeedback` on a document's content: the document and its
    version, the variation the agent was shown, and the application it was shown in (the
    fields Genesys' schema marks required; an id not known is left out, not invented)."""
    document = {"id": document_id}
    if version_id:
        document["versionId"] = version_id
    if knowledge_base_id:
        document["knowledgeBase"] = {"id": knowledge_base_id}
    body = {
        "rating": rating,
        "reason": "DocumentContent",
        "comment": comment,
        "state": state,
        "document": document,
        "application": {"type": "Assistant"},
    }
    if variation_id:
        body["documentVariation"] = {"id": variation_id}
    return body


def document_text(document: dict) -> str:
    """The text of a document's variations (paragraph and list blocks, in order)."""
    parts: list[str] = []

    def walk(value):
        if isinstance(value, dict):
            for key, child in value.items():
                if key == "text" and isinstance(child, str):
                    parts.append(child)
                else:
                    walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    walk(document.get("variations"))
    return " ".join(" ".join(parts).split())


class RestKnowledgeClient:
    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        tokens: TokenManager,
        api_base_url: str,
        max_in_flight: int = 5,
        on_state: Callable[[ClientState, str], Awaitable[None]] | None = None,
    ):
        self.http = http
        self.tokens = tokens
        self.api = api_base_url.rstrip("/")
        self.limiter = Limiter(max_in_flight)
        self.on_state = on_state
        self.state = ClientState.STOPPED
        self.detail = ""
        self._in_flight = 0
        self._started: asyncio.Task | None = None

    def start(self) -> None:
        if self._started is None:
            self._started = asyncio.create_task(
                self._report(ClientState.CONNECTED, "ready: knowledge search over REST")
            )

    async def close(self) -> None:
        if self._started is not None:
            await asyncio.gather(self._started, return_exceptions=True)

    def in_flight(self) -> int:
        return self._in_flight

    async def _report(self, state: ClientState, detail: str) -> None:
        if (state, detail) == (self.state, self.detail):
            return
        self.state, self.detail = state, detail
        if self.on_state is not None:
            await self.on_state(state, detail)

    async def query(self, request: SearchRequest, *, within: float, wait: bool = True) -> Answer:
        """Search every source of the request; raises a QueryFailed subclass."""
        if request.query_id is None:
            request = request.model_copy(update={"query_id": uuid.uuid4().hex})
        started = time.monotonic()
        step = "waiting for a free slot"
        try:
            async with asyncio.timeout(within):
                async with self.limiter.slot(wait=wait):
                    step = "waiting for the answer"
                    self._in_flight += 1
                    try:
                        answers = await asyncio.gather(
                            *(self._search(request, s) for s in request.knowledge_sources)
                        )
                    finally:
                        self._in_flight -= 1
        except TimeoutError:
            raise QueryTimedOut(f"no answer within {within:g} s ({step})", code="timeout") from None
        await self._report(ClientState.CONNECTED, "ready: knowledge search over REST")
        return Answer(
            query_id=request.query_id,
            conversation_id=request.conversation_id,
            results=[result for answer in answers for result in answer],
            latency_ms=(time.monotonic() - started) * 1000,
            attempts=1,
        )

    async def _search(self, request: SearchRequest, source: KnowledgeSourceRef) -> list:
        base = source.knowledge_base_id
        url = self.api + SEARCH_PATH.format(quote(base, safe=""))
        body = {
            "query": request.query_text,
            "pageSize": request.max_results,
            "confidenceThreshold": request.confidence_threshold,
            "conversationContext": {"conversationId": request.conversation_id},
        }
        for attempt in (1, 2):
            token = await self._token()
            try:
                response = await rest.send(
                    lambda token=token: self.http.post(
                        url, json=body, headers={"Authorization": f"Bearer {token}"}
                    ),
                    what=f"knowledge search in {base}",
                )
            except RateLimited as exc:
                raise QueryBusy(str(exc), code="rate_limited") from None
            except httpx.HTTPError as exc:
                raise QueryLost(
                    f"knowledge search in {base}: {type(exc).__name__}: {exc}",
                    code="connection_failed",
                ) from None
            if response.status_code == 401 and attempt == 1:
                self.tokens.invalidate(token)  # expired: once more with a new token
                continue
            return await self._results(response, base)
        raise Unavailable(f"knowledge search in {base}: the token was refused twice", code="401")

    async def _token(self) -> str:
        try:
            return await self.tokens.token()
        except AuthenticationError as exc:
            await self._report(ClientState.ERROR, str(exc))
            raise Unavailable(str(exc), code="unavailable") from None
        except (RateLimited, httpx.HTTPError) as exc:
            raise QueryLost(f"OAuth token: {exc}", code="connection_failed") from None

    async def _results(self, response: httpx.Response, base: str) -> list:
        status = response.status_code
        if status == 403:
            detail = (
                f"knowledge search in {base}: permission denied (HTTP 403): give the OAuth "
                f"client's role the permission Genesys lists for knowledge document search"
            )
            await self._report(ClientState.ERROR, detail)
            raise Unavailable(detail, code="forbidden")
        if status == 404:
            raise QueryRefused(
                f"Genesys refused the query: knowledge base {base} was not found (HTTP 404)",
                code="unknown_knowledge_base",
            )
        if status != 200:
            raise QueryRefused(
                f"Genesys refused the query: knowledge search in {base} answered HTTP {status}",
                code=f"http_{status}",
            )
        try:
            answer = SearchResponse.model_validate_json(response.content)
        except ValidationError as exc:
            raise QueryFailed(
                f"knowledge search in {base}: malformed answer ({exc.error_count()} errors)",
                code="malformed_answer",
            ) from None
        return [as_result(item, base) for item in answer.results]
