"""What Genesys sends only by id: a suggested canned response (`cannedResponse.responseId`)
and a suggested script (`script.scriptId`, `pageId`). An officer reviews the response's
text and the script's name, so the client fetches them, once per id, and keeps them in the
suggestion's stored body under RESOLVED_KEY (streams.genesys.suggestions reads them there).

    GET /api/v2/responsemanagement/responses/{id}   the SDK's `Response` (name, texts)
    GET /api/v2/scripts/{id}                         the SDK's `Script` (name, pages)

A lookup that fails is said in the body ("error") instead of a text, so the insight still
says which response or script it was and why its words are missing."""

import collections
import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import httpx
from django.utils.html import strip_tags
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streams.genesys.errors import GenesysError, PermissionDenied
from streams.genesys.suggestions import RESOLVED_KEY, SUGGESTION_KINDS, reference_id

logger = logging.getLogger(__name__)

RESPONSE_PATH = "/api/v2/responsemanagement/responses/{}"
SCRIPT_PATH = "/api/v2/scripts/{}"
# The permissions the two lookups need (named by the connection check and the README).
PERMISSIONS = {"response": "responses:response:view", "script": "scripter:script:view"}
# Lookups that failed for a reason that may pass (a permission granted, a rate limit over)
# are tried again after this long; found and not-found answers are kept.
RETRY_FAILED_AFTER = 300.0
CACHE_SIZE = 4096
MAX_TEXT = 2000


class _Named(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    name: str | None = Field(default=None, max_length=500)


class _ResponseText(BaseModel):
    model_config = ConfigDict(extra="ignore")

    content: str | None = None
    content_type: str | None = Field(default=None, alias="contentType")


class _Response(_Named):
    texts: list[_ResponseText] = Field(default_factory=list, max_length=50)

    def text(self) -> str:
        for text in self.texts:
            if text.content:
                plain = text.content
                if (text.content_type or "").lower() == "text/html":
                    plain = strip_tags(plain)
                return plain[:MAX_TEXT]
        return ""


class _Script(_Named):
    start_page_name: str | None = Field(default=None, alias="startPageName")
    pages: list[_Named] = Field(default_factory=list, max_length=500)


Request = Callable[..., Awaitable[httpx.Response]]


class Resolver:
    """Canned responses and scripts by id, cached (least recently used first out)."""

    def __init__(self, request: Request, *, size: int = CACHE_SIZE):
        self._request = request  # (method, path, *, what) -> the answer
        self._size = size
        self._cache: collections.OrderedDict[tuple[str, str], tuple[dict, float]] = (
            collections.OrderedDict()
        )
        self.lookups = 0
        self.refused: dict[str, str] = {}  # kind -> what Genesys said

    async def enrich(self, kind: str, body: dict) -> dict:
        """The body with RESOLVED_KEY set, for a canned response or a script; any other
        body as it is."""
        if kind not in PERMISSIONS:
            return body
        section = body.get(SUGGESTION_KINDS[kind])
        section = section if isinstance(section, dict) else {}
        return {**body, RESOLVED_KEY: await self.resolve(kind, section)}

    async def resolve(self, kind: str, section: dict) -> dict:
        flat, nested = ("responseId", "response") if kind == "response" else ("scriptId", "script")
        ident = reference_id(section, flat, nested)
        if ident is None:
            return {"error": f"Genesys sent no {flat}"}
        key = (kind, ident)
        cached = self._cache.get(key)
        if cached is not None and (cached[1] == 0 or time.monotonic() < cached[1]):
            self._cache.move_to_end(key)
            found = cached[0]
        else:
            found, lasting = await self._fetch(kind, ident)
            self._cache[key] = (found, 0 if lasting else time.monotonic() + RETRY_FAILED_AFTER)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        if kind == "script" and "error" not in found:
            page = found.get("pages", {}).get(reference_id(section, "pageId", "page") or "")
            page = page or found.get("start_page")
            return {"name": found["name"], "text": f"page {page}" if page else ""}
        return {k: v for k, v in found.items() if k in ("name", "text", "error")}

    async def _fetch(self, kind: str, ident: str) -> tuple[dict, bool]:
        """(what was found or why not, whether to keep it)."""
        what = "canned response" if kind == "response" else "script"
        path = (RESPONSE_PATH if kind == "response" else SCRIPT_PATH).format(quote(ident, safe=""))
        self.lookups += 1
        try:
            response = await self._request("GET", path, what=what)
        except PermissionDenied as exc:
            if kind not in self.refused:
                logger.warning("%ss are not resolved: %s", what, exc)
            self.refused[kind] = str(exc)
            return {"error": f"not resolved: permission {PERMISSIONS[kind]} missing"}, False
        except (GenesysError, httpx.HTTPError) as exc:
            return {"error": f"not resolved: {type(exc).__name__}"}, False
        if response.status_code == 404:
            return {"error": f"no such {what} in Genesys"}, True
        if response.status_code != 200:
            return {"error": f"not resolved: HTTP {response.status_code}"}, False
        self.refused.pop(kind, None)
        try:
            if kind == "response":
                answer = _Response.model_validate_json(response.content)
                return {"name": answer.name or "", "text": answer.text()}, True
            script = _Script.model_validate_json(response.content)
        except ValidationError:
            return {"error": f"not resolved: Genesys sent a malformed {what}"}, False
        return {
            "name": script.name or "",
            "pages": {p.id: p.name for p in script.pages if p.id and p.name},
            "start_page": script.start_page_name,
        }, True
