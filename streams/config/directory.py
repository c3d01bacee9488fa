"""Genesys' queues and agents by name, for the stream's admin page: an admin chooses whom to
follow by name (`GET /api/v2/routing/queues`, `GET /api/v2/users`, paged), not by typing ids.

Read with the connection's OAuth client, kept a few minutes per connection (names change
rarely; a page that opens twice does not ask twice)."""

from dataclasses import dataclass, field

import httpx
from asgiref.sync import async_to_sync
from django.core.cache import cache

from streams import outbound
from streams.config.specs import connection_spec
from streams.genesys.auth import TokenPool
from streams.genesys.errors import GenesysError
from streams.genesys.rest import error_message

QUEUES_PATH = "/api/v2/routing/queues"
USERS_PATH = "/api/v2/users"
PAGE_SIZE = 500
MAX_ENTRIES = 10_000  # per list: beyond it, the ids are typed
CACHE_SECONDS = 300
PERMISSIONS = {QUEUES_PATH: "routing:queue:view", USERS_PATH: "directory:user:view"}


@dataclass
class Directory:
    queues: list[tuple[str, str]] = field(default_factory=list)  # (id, name), by name
    users: list[tuple[str, str]] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # "queues"/"users" -> why not


def genesys_directory(connection) -> Directory:
    key = f"genesys-directory:{connection.pk}:{connection.updated_at.timestamp():.0f}"
    found = cache.get(key)
    if found is None:
        spec, problem = connection_spec(connection)
        if problem:
            return Directory(problems={"queues": problem, "users": problem})
        found = async_to_sync(_fetch)(spec)
        if not found.problems:
            cache.set(key, found, CACHE_SECONDS)
    return found


async def _fetch(spec) -> Directory:
    directory = Directory()
    async with outbound.http_client(outbound.genesys_hosts()) as http:
        tokens = spec.tokens(TokenPool(), http)
        api = spec.api_url.rstrip("/")
        for what, path in (("queues", QUEUES_PATH), ("users", USERS_PATH)):
            try:
                setattr(directory, what, await _listing(http, tokens, api + path))
            except (GenesysError, httpx.HTTPError, ValueError) as exc:
                directory.problems[what] = str(exc) or type(exc).__name__
    return directory


async def _listing(http, tokens, url: str) -> list[tuple[str, str]]:
    path = url[url.index("/api/v2") :]
    found = [
        (str(e["id"]), str(e.get("name") or e["id"]))
        for e in await entities(http, tokens, url, PERMISSIONS[path])
    ]
    return sorted(found, key=lambda entry: entry[1].lower())


async def entities(
    http, tokens, url: str, permission: str, params: dict | None = None
) -> list[dict]:
    """Every entity of a paged Genesys listing (up to MAX_ENTRIES); GenesysError naming
    `permission` when the OAuth client lacks it."""
    found: list[dict] = []
    number = 1
    while len(found) < MAX_ENTRIES:
        token = await tokens.token()
        response = await http.get(
            url,
            params={**(params or {}), "pageSize": PAGE_SIZE, "pageNumber": number},
            headers={"Authorization": f"Bearer {token}"},
            timeout=15.0,
        )
        if response.status_code == 403:
            raise GenesysError(f"the OAuth client lacks {permission} ({error_message(response)})")
        if response.status_code != 200:
            raise GenesysError(f"HTTP {response.status_code}: {error_message(response)}")
        body = response.json()
        page = body.get("entities") or []
        found += [e for e in page if isinstance(e, dict) and e.get("id")]
        if not page or number >= int(body.get("pageCount") or 1):
            break
        number += 1
    return found[:MAX_ENTRIES]
