"""Check a connection: call each endpoint its streams need, and say per feature whether the
OAuth client is permitted, lacks a permission (which one), or names something Genesys does
not know (a queue id mistyped, a knowledge base gone).

Every call is a read, or a write Genesys refuses before it changes anything (a suggestion
engagement on a conversation that does not exist). Subscribing is checked on one new channel:
the stream worker keeps one of the OAuth client's channels free for hand-overs, which this
uses for as long as the check runs (a channel cannot be deleted; it lapses unused).
"""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import quote

import httpx

from streams.genesys.auth import TokenManager
from streams.genesys.errors import GenesysError
from streams.genesys.following import AGGREGATES_PATH, conversations_query
from streams.genesys.knowledge_rest import document_feedback_body
from streams.genesys.resolve import PERMISSIONS, RESPONSE_PATH, SCRIPT_PATH
from streams.genesys.rest import error_message
from streams.genesys.suggestions import (
    SUGGESTION_KINDS,
    AvailableTopics,
    offered_names,
    suggestion_topic,
    topic_template,
    watch_topics,
)

NOBODY = "00000000-0000-4000-8000-000000000000"  # a conversation no org has
QUEUE_PATH = "/api/v2/routing/queues/{}"
CHANNELS_PATH = "/api/v2/notifications/channels"
TOPICS_PATH = "/api/v2/notifications/availabletopics"


class Outcome(StrEnum):
    PERMITTED = "permitted"
    MISSING = "missing permission"
    NOT_FOUND = "not found"
    FAILED = "failed"


@dataclass(frozen=True)
class Finding:
    feature: str
    permission: str
    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True)
class Needs:
    """What a connection's streams use."""

    notifications: bool
    queues: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    sample_conversation: str = ""  # one it follows or lists, if any
    send_verdicts: bool = False
    send_rejections: bool = False  # knowledge document feedback
    summaries: bool = False  # conversation summaries, from followed queues and agents
    knowledge_bases: tuple[tuple[str, str], ...] = ()  # (id, name)


@dataclass
class ConnectionCheck:
    http: httpx.AsyncClient
    tokens: TokenManager
    api: str
    needs: Needs
    findings: list[Finding] = field(default_factory=list)

    async def run(self) -> list[Finding]:
        try:
            await self.tokens.token()
        except GenesysError as exc:
            return [Finding("Sign-in (OAuth client credentials)", "", Outcome.FAILED, str(exc))]
        except httpx.HTTPError as exc:
            detail = (
                f"Genesys could not be reached at {self.tokens.token_url} "
                f"({exc or type(exc).__name__}): check the connection's region or base URLs"
            )
            return [Finding("Sign-in (OAuth client credentials)", "", Outcome.FAILED, detail)]
        self.findings.append(
            Finding("Sign-in (OAuth client credentials)", "", Outcome.PERMITTED, "token issued")
        )
        if not self.needs.notifications:
            await self._seed()
            return self.findings
        names = await self._available_topics()
        await self._subscriptions(names)
        await self._backfill()
        await self._resolvers()
        if self.needs.queues:
            await self._queues()
        if self.needs.queues or self.needs.users:
            await self._aggregates()
        if self.needs.summaries:
            await self._summaries()
        if self.needs.send_verdicts:
            await self._engagement()
            if self.needs.summaries:
                await self._summary_feedback()
        if self.needs.send_rejections and self.needs.knowledge_bases:
            await self._document_feedback(self.needs.knowledge_bases[0][0])
        for kb, name in self.needs.knowledge_bases:
            await self._knowledge(kb, name)
        await self._assistants()
        return self.findings

    # One call, read as an outcome

    async def _call(self, method: str, path: str, **kwargs) -> httpx.Response | str:
        token = await self.tokens.token()
        try:
            return await self.http.request(
                method,
                self.api + path,
                headers={"Authorization": f"Bearer {token}"},
                timeout=15.0,
                **kwargs,
            )
        except (httpx.HTTPError, GenesysError) as exc:
            return f"{type(exc).__name__}: {exc}"[:300]

    def _read(
        self,
        feature: str,
        permission: str,
        response: httpx.Response | str,
        *,
        ok=(200,),
        not_found: str = "",
    ) -> None:
        if isinstance(response, str):
            outcome, detail = Outcome.FAILED, response
        elif response.status_code in ok:
            outcome, detail = Outcome.PERMITTED, f"answered (HTTP {response.status_code})"
        elif response.status_code == 403:
            outcome, detail = Outcome.MISSING, error_message(response)
        elif response.status_code == 404 and not_found:
            outcome, detail = Outcome.NOT_FOUND, not_found
        elif response.status_code == 404:
            # The permission was checked and passed; the thing asked about does not exist.
            outcome = Outcome.PERMITTED
            detail = "answered: no such conversation (HTTP 404), after checking the permission"
        else:
            outcome = Outcome.FAILED
            detail = f"HTTP {response.status_code}: {error_message(response)}"
        self.findings.append(Finding(feature, permission, outcome, detail))

    # Features

    async def _seed(self) -> None:
        response = await self._call("GET", "/api/v2/analytics/events/streamlimits")
        self._read("Insights stream limits", "", response)

    @property
    def kinds(self) -> tuple[str, ...]:
        return self.needs.kinds or tuple(SUGGESTION_KINDS)

    async def _available_topics(self) -> dict[str, str]:
        """Which topic name the org offers over WebSocket for each kind the streams need
        (KIND_TOPICS against `availabletopics`); a kind it does not offer is named."""
        feature = "Suggestion topics the org offers"
        response = await self._call("GET", TOPICS_PATH, params={"expand": "transports"})
        if isinstance(response, str) or response.status_code != 200:
            self._read(feature, "", response)
            return {}
        try:
            offered = AvailableTopics.model_validate_json(response.content).websocket_templates()
        except ValueError:
            self.findings.append(Finding(feature, "", Outcome.FAILED, "malformed answer"))
            return {}
        names, missing = offered_names(self.kinds, offered)
        if missing:
            detail = f"not offered over WebSocket (not subscribed): {', '.join(missing)}"
            self.findings.append(Finding(feature, "", Outcome.NOT_FOUND, detail))
        else:
            detail = ", ".join(topic_template(k, n) for k, n in names.items())
            self.findings.append(Finding(feature, "", Outcome.PERMITTED, detail))
        return names

    async def _resolvers(self) -> None:
        """Canned responses and scripts come as ids: their text is fetched by id."""
        for kind, feature, path in (
            ("response", "Canned responses' text", RESPONSE_PATH),
            ("script", "Scripts' names", SCRIPT_PATH),
        ):
            if kind in self.kinds:
                response = await self._call("GET", path.format(NOBODY))
                self._read(feature, PERMISSIONS[kind], response)

    async def _subscriptions(self, names: dict[str, str]) -> None:
        """Subscribe one channel to what the streams need; Genesys names each topic's
        missing permissions (`missingPermissions`) or refuses the call."""
        conversation = self.needs.sample_conversation or NOBODY
        kinds = [k for k in self.kinds if k in names] if names else self.kinds
        suggestions = [suggestion_topic(conversation, kind, names.get(kind)) for kind in kinds]
        watches = watch_topics(list(self.needs.queues), list(self.needs.users))
        created = await self._call("POST", CHANNELS_PATH)
        if isinstance(created, str) or created.status_code != 200:
            self._read("Notification channel", "", created)
            return
        channel = created.json().get("id", "")
        self._read("Notification channel", "", created)
        response = await self._call(
            "PUT",
            f"{CHANNELS_PATH}/{quote(str(channel), safe='')}/subscriptions",
            json=[{"id": topic} for topic in suggestions + watches],
        )
        if isinstance(response, str) or response.status_code != 200:
            self._read("Live suggestions (topics)", "conversation:suggestion:view", response)
            return
        missing = _missing_by_topic(response)
        self._topics(
            "Live suggestions (topics)", "conversation:suggestion:view", suggestions, missing
        )
        if watches:
            self._topics(
                "Following queues and agents (topics)",
                "not published by Genesys",
                watches,
                missing,
            )

    def _topics(self, feature: str, permission: str, topics: list[str], missing: dict) -> None:
        lacking = sorted({p for t in topics for p in missing.get(t, [])})
        if lacking:
            self.findings.append(Finding(feature, ", ".join(lacking), Outcome.MISSING, ""))
        else:
            detail = f"{len(topics)} topics subscribed"
            self.findings.append(Finding(feature, permission, Outcome.PERMITTED, detail))

    async def _backfill(self) -> None:
        conversation = quote(self.needs.sample_conversation or NOBODY, safe="")
        response = await self._call(
            "GET", f"/api/v2/conversations/{conversation}/suggestions", params={"pageSize": 1}
        )
        self._read("Back-fill (suggestions listing)", "conversation:suggestion:view", response)

    async def _queues(self) -> None:
        for queue in self.needs.queues:
            response = await self._call("GET", QUEUE_PATH.format(quote(queue, safe="")))
            name = ""
            if not isinstance(response, str) and response.status_code == 200:
                name = str(response.json().get("name") or "")
            feature = f"Queue {name or queue}"
            self._read(
                feature,
                "routing:queue:view",
                response,
                not_found=f"Genesys knows no queue {queue}: check the stream's queue ids",
            )

    async def _assistants(self) -> None:
        """Reading Genesys' own Agent Assist configuration, to record what changes there."""
        feature = "Changes in Genesys' Agent Assist configuration (assistants)"
        response = await self._call(
            "GET", "/api/v2/assistants", params={"expand": "copilot", "pageSize": 1}
        )
        self._read(feature, "assistants:assistant:view, assistants:copilot:view", response)
        if isinstance(response, str) or response.status_code != 200:
            return
        first = next(iter(response.json().get("entities") or []), None)
        if first is not None:
            queues = await self._call(
                "GET", f"/api/v2/assistants/{quote(str(first['id']), safe='')}/queues"
            )
            self._read(f"{feature}: their queues", "assistants:queue:view", queues)

    async def _aggregates(self) -> None:
        now = datetime.now(UTC)
        query = conversations_query(
            list(self.needs.queues),
            list(self.needs.users),
            (now - timedelta(minutes=5)).timestamp(),
            now.timestamp(),
        )
        response = await self._call("POST", AGGREGATES_PATH, json=query)
        self._read(
            "Gaps and reconciliation (Copilot aggregates)",
            "analytics:agentCopilotAggregate:view",
            response,
        )

    async def _engagement(self) -> None:
        suggestion = str(uuid.UUID(int=0))
        response = await self._call(
            "POST",
            f"/api/v2/conversations/{NOBODY}/suggestions/{suggestion}/engagement",
            json={"engagementType": "Feedback", "feedback": {"rating": "Positive"}},
        )
        self._read(
            "Verdicts back to Genesys (suggestion feedback)",
            "conversation:suggestionEngagement:add",
            response,
        )

    async def _summaries(self) -> None:
        response = await self._call("GET", f"/api/v2/conversations/{NOBODY}/summaries")
        self._read("Conversation summaries", "conversation:summary:view", response)

    async def _summary_feedback(self) -> None:
        response = await self._call(
            "POST",
            f"/api/v2/conversations/{NOBODY}/summaries/{NOBODY}/feedback",
            json={"rating": "Unknown", "summary": "assistgov connection check"},
        )
        self._read(
            "Corrected summaries back to Genesys (summary feedback)",
            "conversation:summaryFeedback:add",
            response,
        )

    async def _document_feedback(self, kb: str) -> None:
        """Feedback on a document that does not exist: refused for want of the permission
        (403) or for the document (404), never recorded."""
        response = await self._call(
            "POST",
            f"/api/v2/knowledge/knowledgebases/{quote(kb, safe='')}/documents/{NOBODY}/feedback",
            json=document_feedback_body(
                rating="Negative",
                comment="assistgov connection check",
                document_id=NOBODY,
                version_id=NOBODY,
                variation_id=NOBODY,
                state="Draft",
            ),
        )
        self._read(
            "Rejections back to Genesys (knowledge document feedback)",
            "knowledge:feedback:create",
            response,
        )

    async def _knowledge(self, kb: str, name: str) -> None:
        response = await self._call(
            "POST",
            f"/api/v2/knowledge/knowledgebases/{quote(kb, safe='')}/documents/search",
            json={"query": "assistgov connection check", "pageSize": 1},
        )
        self._read(
            f"Knowledge search in {name} ({kb})",
            "knowledge:knowledgebase:search",
            response,
            not_found=f"Genesys knows no knowledge base {kb}",
        )


def _missing_by_topic(response: httpx.Response) -> dict[str, list[str]]:
    try:
        entities = response.json().get("entities") or []
    except (ValueError, AttributeError):
        return {}
    return {
        str(e.get("id")): [str(p) for p in e.get("missingPermissions") or []]
        for e in entities
        if isinstance(e, dict)
    }
