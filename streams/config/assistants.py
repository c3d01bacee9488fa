"""Genesys' own Agent Assist configuration, as the connection's OAuth client may read it:
each assistant with its copilot settings (`GET /api/v2/assistants?expand=copilot`) and the
queues it serves (`GET /api/v2/assistants/{id}/queues`). What changes there (a threshold
lowered, answers switched on, a queue moved) changes what agents are shown: assistgov
records it (audit.trail.drift)."""

import httpx
from asgiref.sync import async_to_sync

from streams import outbound
from streams.config.directory import entities
from streams.config.specs import connection_spec
from streams.genesys.auth import TokenPool
from streams.genesys.errors import GenesysError

ASSISTANTS_PATH = "/api/v2/assistants"
QUEUES_PATH = "/api/v2/assistants/{}/queues"
PERMISSIONS = "assistants:assistant:view, assistants:copilot:view, assistants:queue:view"
# What changes on every read or says nothing about behaviour.
IGNORED = {"selfUri", "dateModified", "modifiedBy", "dateCreated", "createdBy"}


def assistants_snapshot(connection) -> dict[str, dict]:
    """Assistant id -> {name, state, copilot, queues}; GenesysError (or ValueError) saying
    why it cannot be read."""
    spec, problem = connection_spec(connection)
    if problem:
        raise GenesysError(problem)
    return async_to_sync(_fetch)(spec)


async def _fetch(spec) -> dict[str, dict]:
    async with outbound.http_client(outbound.genesys_hosts()) as http:
        tokens = spec.tokens(TokenPool(), http)
        api = spec.api_url.rstrip("/")
        try:
            assistants = await entities(
                http, tokens, api + ASSISTANTS_PATH, PERMISSIONS, {"expand": "copilot"}
            )
            found = {}
            for assistant in assistants:
                queues = await entities(
                    http, tokens, api + QUEUES_PATH.format(assistant["id"]), PERMISSIONS
                )
                found[str(assistant["id"])] = {
                    "name": str(assistant.get("name") or assistant["id"]),
                    "state": assistant.get("state"),
                    "copilot": _plain(assistant.get("copilot") or {}),
                    "queues": sorted(str(q["id"]) for q in queues),
                }
            return found
        except httpx.HTTPError as exc:
            raise GenesysError(
                f"Genesys could not be reached ({exc or type(exc).__name__})"
            ) from exc


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items()) if k not in IGNORED}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
