"""The simulator's notifications flavour (PROTOCOL.md section 2): channels, subscriptions
with their limits, heartbeats, pong, socket_closing, channel expiry, suggestion events
with the SDK's field names, the suggestions REST listing, and knowledge search over REST.

Suggestions are the simulator's one event log seen through this flavour: each generated
insight becomes one suggestion on its conversation (the kind follows the insight type),
so both flavours share retention, emission and the `/_sim/stats` figures. As on the real
service, nothing is queued for a socket that is not there: a socket receives what is
emitted while it is connected and subscribed; the rest is in the REST listing.
"""

import asyncio
import base64
import collections
import contextlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import WSMsgType, web

from streams.genesys.notifications import (
    HEARTBEAT_TOPIC,
    LIMIT_KEYS,
    MAX_CHANNELS,
    MAX_TOPICS_PER_CHANNEL,
    NO_LONGER_SUBSCRIBED,
    SOCKET_CLOSING_TOPIC,
    TOKEN_REVOKED,
)
from streams.genesys.suggestions import (
    KIND_TOPICS,
    REST_TYPES,
    SUGGESTION_KINDS,
    suggestion_topic,
    topic_kind,
    topic_template,
    watch_of,
)
from streams.genesys.summaries import is_summary_topic
from streams.genesys.times import iso
from streams.simulator.generator import event_seq

SUGGESTION_NAMESPACE = uuid.UUID("6f1c7f2e-8d2b-4f43-9a55-2b0f3c1d9e10")
# The listing's `type` per kind (the SDK's `Suggestion.type`); intents are not listed.
REST_TYPE = {kind: rest for rest, kind in REST_TYPES.items() if rest != "SuggestedKnowledgeAnswer"}
MAX_PAGE_SIZE = 200
SUGGESTION_PERMISSION = "conversation:suggestion:view"


def suggestion_id(event_id: str) -> str:
    """The suggestionId of the suggestion an event becomes: a UUID, as Genesys issues."""
    return str(uuid.uuid5(SUGGESTION_NAMESPACE, event_id))


def suggestion_kind(event: dict, run: str = "") -> str:
    seq = event_seq(event["id"], run) or 0
    kind = event.get("insight_type")
    if kind == "knowledge_recommendation":
        return "knowledge.article" if seq % 3 == 0 else "knowledge.search"
    if kind == "sentiment_alert":
        return "intent"
    if seq % 10 == 0:
        return "thirdpartyaction"
    return "script" if seq % 2 else "response"


def _uuid(prefix: str, key: str) -> str:
    return str(uuid.uuid5(SUGGESTION_NAMESPACE, f"{prefix}:{key}"))


def _text(event: dict) -> str:
    content = event.get("content")
    text = content.get("text") if isinstance(content, dict) else content
    return text if isinstance(text, str) else json.dumps(content)


@dataclass
class Library:
    """The org's canned responses and scripts, by id: a suggestion names one by id only, and
    `GET /api/v2/responsemanagement/responses/{id}` or `GET /api/v2/scripts/{id}` gives it.
    The same words are the same response (its id comes from them), as in a real library."""

    responses: dict[str, str] = field(default_factory=dict)
    scripts: dict[str, str] = field(default_factory=dict)
    limit: int = 50_000

    def response(self, text: str) -> str:
        ident = _uuid("response", text)
        if len(self.responses) < self.limit:
            self.responses[ident] = text
        return ident

    def script(self, text: str) -> str:
        ident = _uuid("script", text)
        if len(self.scripts) < self.limit:
            self.scripts[ident] = text
        return ident


LIBRARY_ID = _uuid("library", "compliance")


def suggestion_section(kind: str, event: dict, library: Library, *, rest: bool = False) -> dict:
    """The kind's section of a topic event (the SDK's Conversation*SuggestionsTopic models)
    or, with `rest`, of a listing entity (the SDK's `Suggestion`): events name documents,
    responses and scripts by flat ids (`documentId`), the listing by references
    (`document.id`)."""
    text, event_id = _text(event), event["id"]
    confidence = event.get("confidence")
    title = " ".join(text.split()[:6]).rstrip(":,.")
    answer = {"answer": text, "startIndex": 0, "endIndex": len(text)}

    def refs(**ids: str) -> dict:
        if rest:
            return {name: {"id": ident} for name, ident in ids.items()}
        return {f"{name}Id": ident for name, ident in ids.items()}

    if kind in ("knowledge.search", "knowledge.article"):
        document = _uuid("document", event_id)
        variation = _uuid("variation", document)
        section = {
            "title": title,
            "snippets": [text],
            **refs(document=document, version=_uuid("version", event_id)),
            **(
                {"variations": [{"id": variation}]}
                if rest
                else {"variationIds": [variation], "uri": f"https://kb.example.com/{document}"}
            ),
            "knowledgeAnswer": answer,
        }
        if kind == "knowledge.search":
            section.update(confidence=confidence, searchId=_uuid("search", event_id))
        return section
    if kind == "intent":
        return {
            "intent": title or "Unnamed intent",
            "intentId": _uuid("intent", title),
            "confidence": confidence,
            "detectedSlots": [
                {
                    "slotName": "topic",
                    "entityType": "builtin:text",
                    "slotValue": text,
                    "probability": confidence,
                }
            ],
        }
    if kind == "response":
        return refs(response=library.response(text), library=LIBRARY_ID)
    if kind == "script":
        script = library.script(text)
        return {**refs(script=script, page=_uuid("page", script)), "data": {}}
    return {
        "title": title,
        "text": text,
        "sources": [{"name": "Compliance handbook", "url": "https://handbook.example.com/"}],
    }


def suggestion_event(
    event: dict, library: Library, run: str = "", names: dict | None = None
) -> tuple[str, dict]:
    """(topic, eventBody) of the suggestion an event becomes; `names` are the topic names the
    org uses for the kinds (KIND_TOPICS)."""
    kind = suggestion_kind(event, run)
    body = {
        "suggestionId": suggestion_id(event["id"]),
        "conversationId": event["interaction_id"],
        "eventTime": event["timestamp"],
        "state": "Suggested",
        "triggerType": "Intent",
        "context": {
            "queryStatement": _text(event)[:200],
            "utteranceId": _uuid("u", event["id"]),
            "mediaType": "VOICE",
            "participantType": "CUSTOMER",
        },
        SUGGESTION_KINDS[kind]: suggestion_section(kind, event, library),
    }
    name = (names or {}).get(kind)
    return suggestion_topic(event["interaction_id"], kind, name), body


def suggestion_entity(event: dict, library: Library, run: str = "", state: str = "") -> dict:
    """The same suggestion as the REST listing shows it (the SDK's `Suggestion`)."""
    kind = suggestion_kind(event, run)
    sid = suggestion_id(event["id"])
    return {
        "id": sid,
        "type": REST_TYPE[kind],
        "dateCreated": event["timestamp"],
        "state": state or "Suggested",
        "triggerType": "Intent",
        "context": {"queryStatement": _text(event)[:200]},
        SUGGESTION_KINDS[kind]: suggestion_section(kind, event, library, rest=True),
        "conversation": {"id": event["interaction_id"]},
        "selfUri": f"/api/v2/conversations/{event['interaction_id']}/suggestions/{sid}",
    }


def encode_cursor(position: int) -> str:
    """An opaque listing cursor, as Genesys' are: a client passes it back, never reads it."""
    return base64.urlsafe_b64encode(f"sim:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Raises ValueError for a cursor this listing did not give (a time, say)."""
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        prefix, _, position = base64.urlsafe_b64decode(padded).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise ValueError(cursor) from None
    if prefix != "sim" or not position.isdigit():
        raise ValueError(cursor)
    return int(position)


@dataclass(eq=False)
class SimChannel:
    id: str
    client_id: str
    expires: float  # wall clock
    topics: set[str] = field(default_factory=set)
    socket: "ChannelSocket | None" = None
    created: float = field(default_factory=time.time)


@dataclass(eq=False)
class ChannelSocket:
    channel: SimChannel
    ws: web.WebSocketResponse
    request: web.Request
    cursor: int
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    silent_until: float = 0.0
    # Conversation events (queues, agents) for this socket, sent before the next suggestion.
    outbox: collections.deque = field(default_factory=collections.deque)


class NotificationsService:
    def __init__(self, simulator):
        self.simulator = simulator
        self.channels: dict[str, SimChannel] = {}
        self.sockets: set[ChannelSocket] = set()
        self.limits_status = 200
        self.max_channels = MAX_CHANNELS
        self.max_topics = MAX_TOPICS_PER_CHANNEL
        self.subscription_calls: list[tuple[str, str, int]] = []  # (method, channel, topics)
        self.heartbeats = True
        self.engagements: list[dict] = []  # feedback received: {"suggestionId", "body"}
        self.document_feedback: list[dict] = []  # knowledge document feedback received
        self.summaries: dict = {}  # conversation id -> the ended Conversation, summarised
        self.summary_feedback: list[dict] = []  # summary feedback received
        self.engagement_status = 200  # a fault may make it answer otherwise
        self.aggregates_status = 200
        # Permissions the OAuth client's role lacks (the "permissions" fault).
        self.missing_permissions: set[str] = set()
        # The "lose" fault: this many next suggestions reach no socket (ids kept).
        self.lose = 0
        self.lost: set[str] = set()
        self.library = Library()
        # The topic name the org uses for each kind it offers (the "topics" fault changes it).
        self.topic_names = {kind: names[0] for kind, names in KIND_TOPICS.items()}
        self.states: dict[str, str] = {}  # suggestion id -> state after an engagement

    @property
    def config(self):
        return self.simulator.config

    @property
    def counters(self) -> collections.Counter:
        return self.simulator.counters

    def routes(self, app: web.Application) -> None:
        app.router.add_get(
            "/api/v2/organizations/limits/namespaces/notifications", self.limits_view
        )
        app.router.add_post("/api/v2/notifications/channels", self.create_channel)
        path = "/api/v2/notifications/channels/{channel}/subscriptions"
        app.router.add_get(path, self.subscriptions_view)
        app.router.add_put(path, self.subscribe_view)
        app.router.add_post(path, self.subscribe_view)
        app.router.add_delete(path, self.unsubscribe_view)
        app.router.add_get("/api/v2/notifications/channels", self.channels_view)
        app.router.add_get("/api/v2/notifications/availabletopics", self.topics_view)
        app.router.add_get("/channels/{channel}", self.socket_view)
        app.router.add_get("/api/v2/conversations/{conversation}/suggestions", self.listing_view)
        app.router.add_get(
            "/api/v2/conversations/{conversation}/suggestions/{suggestion}", self.suggestion_view
        )
        app.router.add_get("/api/v2/responsemanagement/responses/{response}", self.response_view)
        app.router.add_get("/api/v2/scripts/{script}", self.script_view)
        app.router.add_get("/api/v2/users", self.users_view)
        app.router.add_get("/api/v2/knowledge/knowledgebases", self.knowledge_bases_view)
        app.router.add_post(
            "/api/v2/conversations/{conversation}/suggestions/{suggestion}/engagement",
            self.engagement_view,
        )
        app.router.add_post(
            "/api/v2/knowledge/knowledgebases/{kb}/documents/search", self.knowledge_search
        )
        app.router.add_post(
            "/api/v2/knowledge/knowledgebases/{kb}/documents/{document}/feedback",
            self.document_feedback_view,
        )
        app.router.add_get("/api/v2/conversations/{conversation}/summaries", self.summaries_view)
        app.router.add_post(
            "/api/v2/conversations/{conversation}/summaries/{summary}/feedback",
            self.summary_feedback_view,
        )
        app.router.add_get("/api/v2/assistants", self.assistants_view)
        app.router.add_get("/api/v2/assistants/{assistant}/queues", self.assistant_queues_view)
        app.router.add_get("/api/v2/routing/queues", self.queues_view)
        app.router.add_get("/api/v2/routing/queues/{queue}", self.queue_view)
        app.router.add_post(
            "/api/v2/analytics/agentcopilots/aggregates/query", self.copilot_aggregates
        )

    def _client(self, request: web.Request) -> str | None:
        token = self.simulator._token_valid(request)
        return None if token is None else self.config.client_id

    def _refused(self, request: web.Request, permission: str) -> web.Response | None:
        """401 without a valid token, 403 when the role lacks `permission`, else None."""
        if self._client(request) is None:
            return _unauthorised()
        if permission in self.missing_permissions:
            return web.json_response(
                {
                    "message": f"Unable to perform the requested action. You are missing the "
                    f"following permission(s): [{permission}]",
                    "code": "missing.permissions",
                    "status": 403,
                },
                status=403,
            )
        return None

    # REST

    async def limits_view(self, request: web.Request) -> web.Response:
        if self._client(request) is None:
            return _unauthorised()
        if self.limits_status != 200:
            return web.json_response(
                {"message": "Missing permission", "status": self.limits_status},
                status=self.limits_status,
            )
        return web.json_response(
            {
                "entities": [
                    {
                        "key": LIMIT_KEYS["channels"],
                        "namespace": "notifications",
                        "value": self.max_channels,
                    },
                    {
                        "key": LIMIT_KEYS["topics"],
                        "namespace": "notifications",
                        "value": self.max_topics,
                    },
                ]
            }
        )

    async def create_channel(self, request: web.Request) -> web.Response:
        client = self._client(request)
        if client is None:
            return _unauthorised()
        mine = sorted(
            (c for c in self.channels.values() if c.client_id == client), key=lambda c: c.created
        )
        while len(mine) >= self.max_channels:
            # A 21st channel evicts the client's oldest, one without a socket first.
            evicted = next((c for c in mine if c.socket is None), mine[0])
            mine.remove(evicted)
            await self._drop_channel(evicted, "evicted by a newer channel")
            self.counters["notifications_channels_evicted"] += 1
        channel_id = f"streaming-0-{secrets.token_hex(10)}"
        channel = SimChannel(channel_id, client, time.time() + self.config.channel_ttl)
        self.channels[channel_id] = channel
        self.counters["notifications_channels"] += 1
        host = request.host
        expires = datetime.fromtimestamp(channel.expires, UTC)
        return web.json_response(
            {
                "connectUri": f"ws://{host}/channels/{channel_id}",
                "id": channel_id,
                "expires": expires.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            }
        )

    def _channel(self, request: web.Request) -> SimChannel | None:
        channel = self.channels.get(request.match_info["channel"])
        if channel is None or channel.client_id != self._client(request):
            return None
        return channel

    async def subscriptions_view(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel is None:
            return _not_found("channel")
        return web.json_response({"entities": [{"id": t} for t in sorted(channel.topics)]})

    async def subscribe_view(self, request: web.Request) -> web.Response:
        if self._client(request) is None:
            return _unauthorised()
        channel = self._channel(request)
        if channel is None:
            return _not_found("channel")
        try:
            body = await request.json()
            topics = [item["id"] for item in body]
            if not all(isinstance(t, str) for t in topics):
                raise TypeError
        except (ValueError, TypeError, KeyError):
            return _bad_request('the body must be a list of {"id": topic}')
        unknown = [
            t
            for t in topics
            if not self._offered(t) and watch_of(t) is None and not is_summary_topic(t)
        ]
        if unknown:
            return _bad_request(f"invalid topic {unknown[0][:120]}")
        replace = request.method == "PUT"
        wanted = set(topics) if replace else channel.topics | set(topics)
        if len(wanted) > self.max_topics:
            return _bad_request(
                f"a channel takes at most {self.max_topics} topics; this would make {len(wanted)}"
            )
        # A topic the role may not read is not subscribed; Genesys names what it lacks.
        lacking = SUGGESTION_PERMISSION in self.missing_permissions
        refused = {t for t in wanted if lacking and topic_kind(t) is not None}
        channel.topics = wanted - refused
        # Resubscribing extends a channel's life, as on the real service.
        channel.expires = time.time() + self.config.channel_ttl
        self.subscription_calls.append((request.method, channel.id, len(topics)))
        self.counters[f"notifications_subscribe_{request.method.lower()}"] += 1
        entities = [
            {
                "id": t,
                **(
                    {"missingPermissions": ["conversation:suggestion:view"]} if t in refused else {}
                ),
            }
            for t in sorted(wanted)
        ]
        return web.json_response({"entities": entities})

    def _offered(self, topic: str) -> bool:
        """A suggestion topic under the name this org uses for its kind."""
        parsed = topic_kind(topic)
        if parsed is None or parsed[1] not in self.topic_names:
            return False
        return topic == suggestion_topic(parsed[0], parsed[1], self.topic_names[parsed[1]])

    async def unsubscribe_view(self, request: web.Request) -> web.Response:
        """DELETE .../subscriptions: every topic of the channel dropped."""
        if self._client(request) is None:
            return _unauthorised()
        channel = self._channel(request)
        if channel is None:
            return _not_found("channel")
        channel.topics = set()
        self.counters["notifications_unsubscribe"] += 1
        return web.Response(status=204)

    async def channels_view(self, request: web.Request) -> web.Response:
        """GET /api/v2/notifications/channels: the client's channels (ChannelEntityListing)."""
        client = self._client(request)
        if client is None:
            return _unauthorised()
        mine = sorted(
            (c for c in self.channels.values() if c.client_id == client), key=lambda c: c.created
        )
        return web.json_response(
            {
                "entities": [
                    {
                        "id": c.id,
                        "connectUri": f"ws://{request.host}/channels/{c.id}",
                        "expires": iso(datetime.fromtimestamp(c.expires, UTC)),
                    }
                    for c in mine
                ]
            }
        )

    async def topics_view(self, request: web.Request) -> web.Response:
        """GET /api/v2/notifications/availabletopics (AvailableTopicEntityListing): the
        suggestion topics this org offers, under its names, and the conversation topics."""
        if self._client(request) is None:
            return _unauthorised()
        suggestion = [
            {
                "id": topic_template(kind, name),
                "description": f"Agent Copilot {kind} suggestions on a conversation",
                "requiresPermissions": [SUGGESTION_PERMISSION],
                "transports": ["WebSocket"],
                "topicParameters": ["id"],
            }
            for kind, name in sorted(self.topic_names.items())
        ]
        others = [
            ("v2.routing.queues.{id}.conversations", "routing:queue:view"),
            ("v2.users.{id}.conversations", "conversation:communication:view"),
            ("v2.users.{id}.conversations.summaries", "conversation:summary:view"),
        ]
        return web.json_response(
            {
                "entities": suggestion
                + [
                    {
                        "id": topic,
                        "requiresPermissions": [permission],
                        "transports": ["WebSocket", "EventBridge"],
                        "topicParameters": ["id"],
                    }
                    for topic, permission in others
                ]
            }
        )

    def _suggestions_of(self, conversation: str) -> list[dict]:
        """The conversation's listed suggestions (intents are not listed), oldest first."""
        run = self.config.run_id
        return [
            event
            for event in self.simulator.events
            if event["interaction_id"] == conversation and suggestion_kind(event, run) in REST_TYPE
        ]

    def _entity(self, event: dict) -> dict:
        state = self.states.get(suggestion_id(event["id"]), "")
        return suggestion_entity(event, self.library, self.config.run_id, state)

    async def listing_view(self, request: web.Request) -> web.Response:
        """GET .../suggestions (the SDK's SuggestionListing): paged by opaque `after` and
        `before` cursors, filtered by `type` and `state`."""
        if refused := self._refused(request, SUGGESTION_PERMISSION):
            return refused
        conversation = request.match_info["conversation"]
        query = request.query
        try:
            page_size = int(query.get("pageSize", 25))
            after = decode_cursor(query["after"]) if query.get("after") else None
            before = decode_cursor(query["before"]) if query.get("before") else None
        except ValueError:
            return _bad_request("pageSize is an integer; after and before are cursors it gave")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            return _bad_request(f"pageSize is 1..{MAX_PAGE_SIZE}")
        kind, state = query.get("type"), query.get("state")
        if kind and kind not in REST_TYPES:
            return _bad_request(f"type is one of {', '.join(REST_TYPES)}")
        matching = [
            entity
            for entity in map(self._entity, self._suggestions_of(conversation))
            if (not kind or entity["type"] == kind) and (not state or entity["state"] == state)
        ]
        if before is not None:
            start = max(0, before - page_size)
            end = before
        else:
            start = after or 0
            end = start + page_size
        page = matching[start:end]
        self.counters["notifications_listing_pages"] += 1
        base = f"/api/v2/conversations/{conversation}/suggestions?pageSize={page_size}"
        filters = "".join(f"&{k}={v}" for k, v in (("type", kind), ("state", state)) if v)
        body = {"entities": page, "selfUri": base + filters}
        if end < len(matching):
            body["nextUri"] = f"{base}{filters}&after={encode_cursor(end)}"
        if start > 0:
            body["previousUri"] = f"{base}{filters}&before={encode_cursor(start)}"
        return web.json_response(body)

    async def suggestion_view(self, request: web.Request) -> web.Response:
        if refused := self._refused(request, SUGGESTION_PERMISSION):
            return refused
        conversation, sid = request.match_info["conversation"], request.match_info["suggestion"]
        for event in self._suggestions_of(conversation):
            if suggestion_id(event["id"]) == sid:
                return web.json_response(self._entity(event))
        return _not_found("suggestion")

    async def response_view(self, request: web.Request) -> web.Response:
        """GET /api/v2/responsemanagement/responses/{id} (the SDK's `Response`)."""
        if refused := self._refused(request, "responses:response:view"):
            return refused
        ident = request.match_info["response"]
        text = self.library.responses.get(ident)
        if text is None:
            return _not_found("response")
        self.counters["responses_read"] += 1
        return web.json_response(
            {
                "id": ident,
                "name": " ".join(text.split()[:5]).rstrip(":,.") or "Response",
                "version": 1,
                "libraries": [{"id": LIBRARY_ID, "name": "Compliance responses"}],
                "texts": [{"content": text, "contentType": "text/plain"}],
                "interactionType": "chat",
                "responseType": "MessagingTemplate",
                "selfUri": f"/api/v2/responsemanagement/responses/{ident}",
            }
        )

    async def script_view(self, request: web.Request) -> web.Response:
        """GET /api/v2/scripts/{id} (the SDK's `Script`)."""
        if refused := self._refused(request, "scripter:script:view"):
            return refused
        ident = request.match_info["script"]
        text = self.library.scripts.get(ident)
        if text is None:
            return _not_found("script")
        self.counters["scripts_read"] += 1
        page = _uuid("page", ident)
        return web.json_response(
            {
                "id": ident,
                "name": text,
                "versionId": _uuid("script-version", ident),
                "startPageId": page,
                "startPageName": "Verification",
                "pages": [{"id": page, "name": "Verification"}],
                "selfUri": f"/api/v2/scripts/{ident}",
            }
        )

    async def users_view(self, request: web.Request) -> web.Response:
        """GET /api/v2/users (UserEntityListing), paged as Genesys pages it."""
        if refused := self._refused(request, "directory:user:view"):
            return refused
        life = self.simulator.life
        return _paged(request, life.user_listing() if life is not None else [])

    async def assistants_view(self, request: web.Request) -> web.Response:
        """GET /api/v2/assistants (AssistantListing); `expand=copilot` adds each one's
        copilot settings, which also needs assistants:copilot:view."""
        if refused := self._refused(request, "assistants:assistant:view"):
            return refused
        copilot = "copilot" in request.query.get("expand", "").split(",")
        if copilot and (refused := self._refused(request, "assistants:copilot:view")):
            return refused
        return _paged(request, self.simulator.assistants.listing(copilot=copilot))

    async def assistant_queues_view(self, request: web.Request) -> web.Response:
        """GET /api/v2/assistants/{id}/queues (AssistantQueueListing)."""
        if refused := self._refused(request, "assistants:queue:view"):
            return refused
        queues = self.simulator.assistants.queues(request.match_info["assistant"])
        if queues is None:
            return _not_found("assistant")
        return _paged(request, queues)

    async def knowledge_bases_view(self, request: web.Request) -> web.Response:
        """GET /api/v2/knowledge/knowledgebases (KnowledgeBaseListing)."""
        if refused := self._refused(request, "knowledge:knowledgebase:view"):
            return refused
        corpus = self.simulator.knowledge.corpus
        return web.json_response(
            {
                "entities": [
                    {
                        "id": kb,
                        "name": kb.replace("-", " ").replace("_", " ").capitalize(),
                        "coreLanguage": "en-US",
                        "articleCount": len(documents),
                        "published": True,
                        "selfUri": f"/api/v2/knowledge/knowledgebases/{kb}",
                    }
                    for kb, documents in sorted(corpus.items())
                ],
                "selfUri": "/api/v2/knowledge/knowledgebases",
            }
        )

    async def engagement_view(self, request: web.Request) -> web.Response:
        """A suggestion's engagement (the SDK's `SuggestionEngagement`): recorded, and echoed
        on the suggestion's topic as Genesys does (state Rated for feedback)."""
        if refused := self._refused(request, "conversation:suggestionEngagement:add"):
            return refused
        if self.engagement_status != 200:
            status = self.engagement_status
            return web.json_response({"message": "refused", "status": status}, status=status)
        conversation, sid = request.match_info["conversation"], request.match_info["suggestion"]
        event = next(
            (
                e
                for e in self.simulator.events
                if e["interaction_id"] == conversation and suggestion_id(e["id"]) == sid
            ),
            None,
        )
        if event is None:
            return _not_found("suggestion")
        try:
            body = json.loads(await request.text())
        except ValueError:
            return _bad_request("the body is not JSON")
        kind = body.get("engagementType") if isinstance(body, dict) else None
        rating = (body.get("feedback") or {}).get("rating") if isinstance(body, dict) else None
        if kind not in ("Dismissed", "Copied", "Opened", "Feedback"):
            return _bad_request("engagementType is Dismissed, Copied, Opened or Feedback")
        if kind == "Feedback" and rating not in ("Positive", "Negative"):
            return _bad_request("feedback.rating is Positive or Negative")
        self.engagements.append({"suggestionId": sid, "body": body})
        self.counters["notifications_engagements"] += 1
        topic, suggestion = suggestion_event(
            event, self.library, self.config.run_id, self.topic_names
        )
        self.states[sid] = "Rated" if kind == "Feedback" else "Accepted"
        echo = {
            **suggestion,
            "state": self.states[sid],
            "eventTime": iso(datetime.now(UTC)),
            "engagementType": kind,
            **({"feedback": {"rating": rating}} if rating else {}),
        }
        for sock in list(self.sockets):
            if topic in sock.channel.topics:
                with contextlib.suppress(ConnectionResetError):
                    await sock.ws.send_json({"topicName": topic, "eventBody": echo})
        return web.json_response({"engagementType": kind}, status=200)

    async def knowledge_search(self, request: web.Request) -> web.Response:
        if refused := self._refused(request, "knowledge:knowledgebase:search"):
            return refused
        kb = request.match_info["kb"]
        service = self.simulator.knowledge
        if kb not in service.corpus:
            return _not_found("knowledge base")
        try:
            body = await request.json()
            query = str(body["query"])
            page_size = int(body.get("pageSize", 5))
        except (ValueError, TypeError, KeyError):
            return _bad_request("query is required")
        if not query.strip() or not 1 <= page_size <= 50:
            return _bad_request("query must not be empty; pageSize is 1..50")
        self.counters["knowledge_rest_searches"] += 1
        await asyncio.sleep(service.settings.delay)
        results = service.rank(query, [kb])[:page_size]
        return web.json_response(
            {
                "searchId": str(uuid.uuid4()),
                "total": len(results),
                "pageCount": 1,
                "pageSize": page_size,
                "pageNumber": 1,
                "results": [
                    {
                        "confidence": confidence,
                        "document": {
                            "id": doc["documentId"],
                            "documentVersion": {"id": _uuid("version", doc["documentId"])},
                            "title": doc["title"],
                            "visible": True,
                            "state": "Published",
                            "dateModified": doc["lastUpdated"],
                            "externalUrl": doc["url"],
                            "knowledgeBase": {"id": kb},
                            "variations": [
                                {
                                    "id": _uuid("variation", doc["documentId"]),
                                    "body": {
                                        "blocks": [
                                            {
                                                "type": "Paragraph",
                                                "paragraph": {
                                                    "blocks": [
                                                        {
                                                            "type": "Text",
                                                            "text": {"text": doc["snippet"]},
                                                        }
                                                    ]
                                                },
                                            }
                                        ]
                                    },
                                }
                            ],
                        },
                    }
                    for confidence, doc in results
                ],
            }
        )

    async def document_feedback_view(self, request: web.Request) -> web.Response:
        """A knowledge document's feedback (the SDK's `KnowledgeDocumentFeedback`), kept."""
        if refused := self._refused(request, "knowledge:feedback:create"):
            return refused
        if self.engagement_status != 200:
            status = self.engagement_status
            return web.json_response({"message": "refused", "status": status}, status=status)
        kb, document = request.match_info["kb"], request.match_info["document"]
        corpus = self.simulator.knowledge.corpus
        if kb not in corpus or not any(d["documentId"] == document for d in corpus[kb]):
            return _not_found("document")
        try:
            body = json.loads(await request.text())
            rating, reason, state = body["rating"], body.get("reason"), body.get("state")
            comment = body.get("comment", "")
        except (ValueError, KeyError, TypeError):
            return _bad_request("rating is required")
        if rating not in ("Positive", "Negative") or reason not in (
            None,
            "DocumentContent",
            "SearchResults",
        ):
            return _bad_request(
                "rating is Positive or Negative; reason DocumentContent or SearchResults"
            )
        if (
            state not in (None, "Draft", "Final")
            or not isinstance(comment, str)
            or len(comment) > 2000
        ):
            return _bad_request(
                "state is Draft or Final; comment is text of at most 2000 characters"
            )
        # The fields Genesys' published schema marks required.
        variation, named = body.get("documentVariation"), body.get("document")
        application = body.get("application")
        if not (
            isinstance(variation, dict)
            and isinstance(variation.get("id"), str)
            and isinstance(named, dict)
            and named.get("id") == document
            and isinstance(application, dict)
            and application.get("type")
            in ("Assistant", "BotFlow", "MessengerKnowledgeApp", "SmartAdvisor", "SupportCenter")
        ):
            return _bad_request(
                "documentVariation.id, document.id (this document) and application.type are "
                "required"
            )
        feedback = {"id": str(uuid.uuid4()), "knowledgeBaseId": kb, "documentId": document, **body}
        self.document_feedback.append(feedback)
        self.counters["knowledge_document_feedback"] += 1
        return web.json_response(feedback)

    async def summaries_view(self, request: web.Request) -> web.Response:
        """`ConversationSummariesGetResponse`: the summary of an ended conversation."""
        if refused := self._refused(request, "conversation:summary:view"):
            return refused
        conversation = request.match_info["conversation"]
        ended = self.summaries.get(conversation)
        if ended is None:
            return _not_found("conversation summary")
        self.counters["summaries_listed"] += 1
        return web.json_response(
            {
                "conversation": {"id": conversation},
                "summary": ended.summary_rest(),
                "sessionSummaries": [],
            }
        )

    async def summary_feedback_view(self, request: web.Request) -> web.Response:
        """`FeedbackAddRequest {rating, summary}` on a summary, kept."""
        if refused := self._refused(request, "conversation:summaryFeedback:add"):
            return refused
        if self.engagement_status != 200:
            status = self.engagement_status
            return web.json_response({"message": "refused", "status": status}, status=status)
        conversation, summary = request.match_info["conversation"], request.match_info["summary"]
        ended = self.summaries.get(conversation)
        if ended is None or ended.summary_event()["summaryId"] != summary:
            return _not_found("summary")
        try:
            body = json.loads(await request.text())
            rating, text = body["rating"], body["summary"]
        except (ValueError, KeyError, TypeError):
            return _bad_request("rating and summary are required")
        if rating not in ("Positive", "Negative", "Unknown") or not isinstance(text, str):
            return _bad_request("rating is Positive, Negative or Unknown; summary is text")
        self.summary_feedback.append({"conversationId": conversation, "summaryId": summary, **body})
        self.counters["summary_feedback"] += 1
        return web.json_response({"rating": rating, "summary": text})

    async def queues_view(self, request: web.Request) -> web.Response:
        """GET /api/v2/routing/queues: the queues, paged as Genesys pages them."""
        if refused := self._refused(request, "routing:queue:view"):
            return refused
        life = self.simulator.life
        return _paged(request, life.queue_listing() if life is not None else [])

    async def queue_view(self, request: web.Request) -> web.Response:
        if refused := self._refused(request, "routing:queue:view"):
            return refused
        life = self.simulator.life
        queue = request.match_info["queue"]
        known = {q["id"]: q for q in (life.queue_listing() if life is not None else [])}
        if queue not in known:
            return _not_found("queue")
        return web.json_response(known[queue])

    async def copilot_aggregates(self, request: web.Request) -> web.Response:
        """POST /api/v2/analytics/agentcopilots/aggregates/query: suggestion counts over an
        interval, grouped by conversationId, queueId, userId and suggestionType, filtered
        by predicates on those dimensions (`AgentCopilotAggregationQuery`)."""
        if refused := self._refused(request, "analytics:agentCopilotAggregate:view"):
            return refused
        if self.aggregates_status != 200:
            status = self.aggregates_status
            return web.json_response({"message": "refused", "status": status}, status=status)
        try:
            query = json.loads(await request.text())
            start, end = (_parse_iso(part) for part in query["interval"].split("/"))
            group_by = list(query.get("groupBy") or [])
            metrics = list(query.get("metrics") or ["nDistinctSuggestions"])
            matches = _filter(query.get("filter"))
        except (ValueError, KeyError, TypeError, AttributeError):
            return _bad_request("interval is start/end in ISO-8601; filter and groupBy as the SDK")
        dimensions = ("conversationId", "queueId", "userId", "suggestionType")
        if any(d not in dimensions for d in group_by + _dimensions(query.get("filter"))):
            return _bad_request(f"dimensions supported here: {', '.join(dimensions)}")
        if any(m not in METRICS for m in metrics):
            return _bad_request(f"metrics supported here: {', '.join(METRICS)}")
        self.counters["copilot_aggregates_queries"] += 1
        life = self.simulator.life
        counts: dict[tuple, collections.Counter] = collections.defaultdict(collections.Counter)
        for event in self.simulator.events:
            at = _parse_iso(event["timestamp"])
            kind = suggestion_kind(event, self.config.run_id)
            if not start <= at < end or kind not in REST_TYPE:
                continue
            conversation = event["interaction_id"]
            values = {
                "conversationId": conversation,
                "queueId": life.queue_of(conversation) if life else None,
                "userId": life.agent_of(conversation) if life else None,
                "suggestionType": REST_TYPE[kind],
            }
            if not matches(values):
                continue
            group = counts[tuple(values[d] for d in group_by)]
            for metric in metrics:
                if METRICS[metric] in (None, REST_TYPE[kind]):
                    group[metric] += 1
        interval = query["interval"]
        return web.json_response(
            {
                "results": [
                    {
                        "group": dict(zip(group_by, key, strict=True)),
                        "data": [
                            {
                                "interval": interval,
                                "metrics": [
                                    {"metric": metric, "stats": {"count": found[metric]}}
                                    for metric in metrics
                                    if found[metric]
                                ],
                            }
                        ],
                    }
                    for key, found in sorted(counts.items(), key=lambda kv: [str(k) for k in kv[0]])
                    if any(found.values())
                ]
            }
        )

    # Sockets

    async def socket_view(self, request: web.Request) -> web.StreamResponse:
        # As Genesys: the channel (made with a valid token, its id unguessable) is the
        # credential; a browser WebSocket cannot send an Authorization header, and none is
        # needed. A header sent anyway is not looked at.
        channel = self.channels.get(request.match_info["channel"])
        if channel is None:
            return _not_found("channel")
        if channel.socket is not None:
            # One socket per channel: the newer connection replaces the older.
            await channel.socket.ws.close(code=1000, message=b"replaced by a new connection")
        ws = web.WebSocketResponse(autoping=True, max_msg_size=64 * 1024)
        await ws.prepare(request)
        sock = ChannelSocket(channel, ws, request, cursor=self.simulator.last_seq + 1)
        channel.socket = sock
        self.sockets.add(sock)
        self.counters["notifications_sockets"] += 1
        tasks = [
            asyncio.create_task(self._send(sock)),
            asyncio.create_task(self._heartbeat(sock)),
            asyncio.create_task(self._receive(sock)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.sockets.discard(sock)
            if channel.socket is sock:
                channel.socket = None
        return ws

    def _silent(self, sock: ChannelSocket) -> bool:
        return time.monotonic() < sock.silent_until

    async def _receive(self, sock: ChannelSocket) -> None:
        async for message in sock.ws:
            if message.type != WSMsgType.TEXT:
                continue
            with contextlib.suppress(ValueError):
                if json.loads(message.data).get("message") == "ping" and not self._silent(sock):
                    self.counters["notifications_pongs"] += 1
                    await sock.ws.send_json(
                        {"topicName": HEARTBEAT_TOPIC, "eventBody": {"message": "pong"}}
                    )

    async def _heartbeat(self, sock: ChannelSocket) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_seconds)
            if time.time() >= sock.channel.expires and sock.channel.topics:
                sock.channel.topics = set()
                await self._metadata(sock, NO_LONGER_SUBSCRIBED)
                self.counters["notifications_expired"] += 1
            if self.heartbeats and not self._silent(sock):
                await self._metadata(sock, "WebSocket Heartbeat")
                self.counters["notifications_heartbeats"] += 1

    async def _metadata(self, sock: ChannelSocket, message: str) -> None:
        await sock.ws.send_json({"topicName": HEARTBEAT_TOPIC, "eventBody": {"message": message}})

    async def _send(self, sock: ChannelSocket) -> None:
        simulator = self.simulator
        with contextlib.suppress(ConnectionResetError):
            while not sock.ws.closed:
                sock.wakeup.clear()
                sock.cursor = max(sock.cursor, simulator.first_seq)
                while sock.cursor <= simulator.last_seq and not self._silent(sock):
                    # What happened to conversations before this event comes first.
                    while sock.outbox and sock.outbox[0][0] <= sock.cursor:
                        _, message = sock.outbox.popleft()
                        await sock.ws.send_json(message)
                    event = simulator.events[sock.cursor - simulator.first_seq]
                    sock.cursor += 1
                    await self._deliver(sock, event)
                while sock.outbox and not self._silent(sock):
                    await sock.ws.send_json(sock.outbox.popleft()[1])
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await sock.wakeup.wait()

    async def _deliver(self, sock: ChannelSocket, event: dict) -> None:
        topic, body = suggestion_event(event, self.library, self.config.run_id, self.topic_names)
        if topic not in sock.channel.topics or event["id"] in self.lost:
            return
        if self.lose > 0:  # lost on the way: in the listing and the counts, on no socket
            self.lose -= 1
            self.lost.add(event["id"])
            self.counters["notifications_lost"] += 1
            return
        await sock.ws.send_json(
            {
                "topicName": topic,
                "version": "2",
                "eventBody": body,
                "metadata": {"CorrelationId": str(uuid.uuid4())},
            }
        )
        self.simulator.record_sent(event)
        self.counters["notifications_events"] += 1

    def publish_conversations(self, changed: list) -> None:
        """Queue and agent topics: each conversation that started or ended, to the sockets
        subscribed, in order with the suggestions (nothing for a socket not there)."""
        at = self.simulator.last_seq + 1  # the next event's sequence number
        for conversation in changed:
            messages = [(topic, conversation.event()) for topic in conversation.topics]
            if conversation.ended:
                # Agent Copilot summarises it once wrapped up (here: as it ends).
                self.summaries[conversation.id] = conversation
                messages.append((conversation.summary_topic, conversation.summary_event()))
            for topic, body in messages:
                message = {
                    "topicName": topic,
                    "version": "2",
                    "eventBody": body,
                    "metadata": {"CorrelationId": str(uuid.uuid4())},
                }
                for sock in self.sockets:
                    if topic in sock.channel.topics and not self._silent(sock):
                        sock.outbox.append((at, message))
                        self.counters["notifications_conversation_events"] += 1

    def wake(self) -> None:
        for sock in self.sockets:
            sock.wakeup.set()

    # Faults

    def inject(self, fault: dict) -> None:
        action = fault["action"]
        if action == "socket_closing":
            self.simulator._spawn(self._socket_closing(float(fault.get("seconds", 5))))
        elif action == "silence":
            until = time.monotonic() + float(fault.get("seconds", 60))
            for sock in self.sockets:
                sock.silent_until = until
        elif action in ("no_longer_subscribed", "token_revoked"):
            note = NO_LONGER_SUBSCRIBED if action == "no_longer_subscribed" else TOKEN_REVOKED
            for sock in list(self.sockets):
                if note == NO_LONGER_SUBSCRIBED:
                    sock.channel.topics = set()
                self.simulator._spawn(self._metadata(sock, note))
        elif action == "lose":
            self.lose = int(fault.get("count", 1))
        elif action == "permissions":
            self.missing_permissions = set(fault.get("missing") or [])
        elif action == "topics":
            # The org names kinds' topics otherwise (KIND_TOPICS), or offers some not at all.
            names = {kind: names[0] for kind, names in KIND_TOPICS.items()}
            names.update({k: v for k, v in (fault.get("names") or {}).items() if k in names})
            for kind in fault.get("drop") or []:
                names.pop(kind, None)
            self.topic_names = names
        elif action == "engagement":
            self.engagement_status = int(fault.get("status", 200))
        elif action == "notifications_limits":
            self.limits_status = int(fault.get("status", 200))
            self.max_channels = int(fault.get("channels", self.max_channels))
            self.max_topics = int(fault.get("topics", self.max_topics))

    async def _socket_closing(self, seconds: float) -> None:
        """Warn every socket, then close them: the client must have moved on by then."""
        closing = list(self.sockets)
        for sock in closing:
            await sock.ws.send_json({"topicName": SOCKET_CLOSING_TOPIC, "eventBody": {}})
        await asyncio.sleep(seconds)
        for sock in closing:
            await sock.ws.close(code=1001, message=b"socket closing")

    def drop(self) -> None:
        for sock in list(self.sockets):
            sock.request.transport.abort()

    async def _drop_channel(self, channel: SimChannel, reason: str) -> None:
        self.channels.pop(channel.id, None)
        if channel.socket is not None:
            await channel.socket.ws.close(code=1000, message=reason.encode())

    async def close(self, code: int, reason: str) -> None:
        for sock in list(self.sockets):
            await sock.ws.close(code=code, message=reason.encode())

    def stats(self) -> dict:
        return {
            "notifications_channels_open": len(self.channels),
            "notifications_sockets_open": len(self.sockets),
            "notifications_topics": sum(len(c.topics) for c in self.channels.values()),
        }


def _paged(request: web.Request, items: list) -> web.Response:
    """A page of `items` as Genesys pages entity listings (pageSize, pageNumber, total), with
    `name` as a case-insensitive search where the endpoint takes one."""
    try:
        size = int(request.query.get("pageSize", 25))
        number = int(request.query.get("pageNumber", 1))
    except ValueError:
        return _bad_request("pageSize and pageNumber are integers")
    if not 1 <= size <= 500 or number < 1:
        return _bad_request("pageSize is 1..500; pageNumber from 1")
    name = request.query.get("name", "").strip("*").lower()
    if name:
        items = [item for item in items if name in item["name"].lower()]
    page = items[(number - 1) * size : number * size]
    return web.json_response(
        {
            "entities": page,
            "pageSize": size,
            "pageNumber": number,
            "total": len(items),
            "pageCount": max(1, -(-len(items) // size)),
        }
    )


def _parse_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# Agent Copilot aggregate metrics: each counts the suggestions of one listing type (None:
# every type).
METRICS = {
    "nDistinctSuggestions": None,
    "nKnowledgeSearchSuggestions": "KnowledgeSearch",
    "nKnowledgeArticleSuggestions": "KnowledgeArticle",
    "nCannedResponseSuggestions": "CannedResponse",
    "nScriptSuggestions": "Script",
}


def _filter(node):
    """A predicate on a row's dimension values from an `AgentCopilotAggregateQueryFilter`:
    its predicates and clauses combined by its `type`, `and` or `or`."""
    if not node:
        return lambda values: True
    kind = node.get("type", "and")
    if kind not in ("and", "or"):
        raise ValueError(kind)
    parts = [
        (lambda values, d=p["dimension"], v=p["value"]: values.get(d) == v)
        for p in node.get("predicates") or []
    ] + [_filter(clause) for clause in node.get("clauses") or []]
    combine = all if kind == "and" else any
    return lambda values: combine(part(values) for part in parts) if parts else True


def _dimensions(node) -> list[str]:
    if not node:
        return []
    found = [p["dimension"] for p in node.get("predicates") or []]
    for clause in node.get("clauses") or []:
        found.extend(_dimensions(clause))
    return found


def _unauthorised() -> web.Response:
    return web.json_response({"message": "invalid or expired token", "status": 401}, status=401)


def _not_found(what: str) -> web.Response:
    return web.json_response({"message": f"{what} not found", "status": 404}, status=404)


def _bad_request(message: str) -> web.Response:
    return web.json_response({"message": message, "code": "bad.request", "status": 400}, status=400)
