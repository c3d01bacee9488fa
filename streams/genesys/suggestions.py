"""Suggestions as Genesys Cloud's notifications API and REST listing carry them (PROTOCOL.md
section 2): the topics they arrive on, and the insight fields each one becomes."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from streams.genesys.payloads import Confidence, Identifier
from streams.genesys.scoring import extract_snippet
from streams.genesys.times import parse_time

# Suggestion kind (the insight type) -> the event body's section, as the SDK's topic models
# name it (ConversationKnowledgeSearchSuggestionsTopic..., ConversationThirdPartyAction...).
SUGGESTION_KINDS = {
    "knowledge.search": "knowledgeSearch",
    "knowledge.article": "knowledgeArticle",
    "response": "cannedResponse",
    "script": "script",
    "intent": "activeIntent",
    "thirdpartyaction": "thirdPartySuggestion",
}
# The topic names a kind may go by, the one assumed first. Genesys' notification mappings
# do not publish them; its developer blog of 2024-12-02 names `.knowledge.response` and
# `.knowledge.script`: the org's `availabletopics` says which it offers (KIND_TOPICS is the
# table the connection check and the stream's start confirm against it).
KIND_TOPICS = {
    "knowledge.search": ("knowledge.search",),
    "knowledge.article": ("knowledge.article",),
    "response": ("response", "knowledge.response"),
    "script": ("script", "knowledge.script"),
    "intent": ("intent",),
    "thirdpartyaction": ("thirdpartyaction",),
}
_TOPIC_KINDS = {name: kind for kind, names in KIND_TOPICS.items() for name in names}
# The REST listing names kinds by `type` (the SDK's `Suggestion.type`). Intents have no
# listing type: Genesys does not list them, so they cannot be back-filled or counted.
REST_TYPES = {
    "KnowledgeSearch": "knowledge.search",
    "KnowledgeArticle": "knowledge.article",
    "SuggestedKnowledgeAnswer": "knowledge.search",
    "CannedResponse": "response",
    "Script": "script",
    "ThirdPartySuggestion": "thirdpartyaction",
}
# Listing types that are not reviewed here, with the reason a back-filled one is quarantined.
UNREVIEWED_TYPES = {
    "Faq": "a Google Agent Assist FAQ suggestion (an offering Genesys has retired)",
    "Article": "a Google Agent Assist article suggestion (an offering Genesys has retired)",
}
# Where a resolved canned response or script is kept in the stored body: Genesys sends only
# their ids; the client fetches what an officer reads (streams.genesys.resolve).
RESOLVED_KEY = "assistgovResolved"
TOPIC_PREFIX = "v2.conversations."
TOPIC_INFIX = ".suggestions."


def suggestion_topic(conversation_id: str, kind: str, name: str | None = None) -> str:
    """The topic of a conversation's suggestions of one kind, under the name `name` (one of
    KIND_TOPICS[kind]; the first when not given)."""
    return f"{TOPIC_PREFIX}{conversation_id}{TOPIC_INFIX}{name or KIND_TOPICS[kind][0]}"


def topic_kind(topic: str) -> tuple[str, str] | None:
    """(conversation id, kind) of a suggestion topic; None for any other topic. A kind this
    table does not know comes back as the topic names it (the reader quarantines it)."""
    if not topic.startswith(TOPIC_PREFIX):
        return None
    conversation, sep, name = topic[len(TOPIC_PREFIX) :].partition(TOPIC_INFIX)
    if not sep or not conversation or not name:
        return None
    return conversation, _TOPIC_KINDS.get(name, name)


def offered_names(kinds, offered: set[str]) -> tuple[dict[str, str], list[str]]:
    """({kind: the topic name the org offers}, [what the kinds it does not offer go by]):
    KIND_TOPICS against the templates `availabletopics` lists."""
    names, missing = {}, []
    for kind in kinds:
        name = next((n for n in KIND_TOPICS[kind] if topic_template(kind, n) in offered), None)
        if name is None:
            missing.append(" or ".join(topic_template(kind, n) for n in KIND_TOPICS[kind]))
        else:
            names[kind] = name
    return names, missing


def topic_template(kind: str, name: str | None = None) -> str:
    """The topic as `availabletopics` lists it: `v2.conversations.{id}.suggestions.<name>`."""
    return suggestion_topic("{id}", kind, name)


# Where conversations are found: a queue's or an agent's conversations, as they start,
# change and end (PROTOCOL.md section 2).
QUEUE_TOPIC = "v2.routing.queues.{}.conversations"
USER_TOPIC = "v2.users.{}.conversations"
_WATCHES = (("queue", "v2.routing.queues."), ("user", "v2.users."))
_WATCH_SUFFIX = ".conversations"


def watch_topics(queues: list[str], users: list[str]) -> list[str]:
    return [QUEUE_TOPIC.format(q) for q in queues] + [USER_TOPIC.format(u) for u in users]


def watch_of(topic: str) -> tuple[str, str] | None:
    """("queue" or "user", id) of a conversations topic; None for any other topic."""
    for what, prefix in _WATCHES:
        if topic.startswith(prefix) and topic.endswith(_WATCH_SUFFIX):
            ident = topic[len(prefix) : -len(_WATCH_SUFFIX)]
            if ident and "." not in ident:
                return what, ident
    return None


class Participant(BaseModel):
    model_config = ConfigDict(extra="allow")

    purpose: str | None = None
    user_id: str | None = Field(default=None, alias="userId")
    queue_id: str | None = Field(default=None, alias="queueId")
    end_time: datetime | None = Field(default=None, alias="endTime")
    state: str | None = None
    # Who the participant is, as Genesys shows them (the customer's name, an agent's): taken
    # out of the conversation's texts wherever they appear (streams.privacy).
    name: str | None = Field(default=None, max_length=200)


class ConversationEvent(BaseModel):
    """A conversation as a queue's or an agent's conversations topic carries it. It has ended
    when every participant has an end time or is disconnected or terminated."""

    model_config = ConfigDict(extra="allow")

    id: Identifier
    participants: list[Participant] = Field(default_factory=list, max_length=200)

    @property
    def ended(self) -> bool:
        return bool(self.participants) and all(
            p.end_time is not None or (p.state or "").lower() in ("disconnected", "terminated")
            for p in self.participants
        )


class SuggestionListing(BaseModel):
    entities: list[Any] = Field(default_factory=list)
    next_uri: str | None = Field(default=None, alias="nextUri")


class Suggestion(BaseModel):
    """A suggestion, from an event body (`suggestionId`, `conversationId`, `eventTime`) or
    from the REST listing (`id`, `conversation.id`, `dateCreated`)."""

    model_config = ConfigDict(extra="allow")

    suggestion_id: Identifier = Field(validation_alias=AliasChoices("suggestionId", "id"))
    conversation_id: Identifier = Field(validation_alias=AliasChoices("conversationId"))
    event_time: datetime | None = Field(
        default=None, validation_alias=AliasChoices("eventTime", "dateCreated")
    )
    state: Annotated[str, StringConstraints(max_length=64)] | None = None

    @model_validator(mode="before")
    @classmethod
    def conversation_from_reference(cls, data: Any) -> Any:
        if isinstance(data, dict) and "conversationId" not in data:
            conversation = data.get("conversation")
            if isinstance(conversation, dict) and "id" in conversation:
                return {**data, "conversationId": conversation["id"]}
        return data


class AvailableTopic(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Annotated[str, StringConstraints(max_length=300)]
    transports: list[str] | None = None


class AvailableTopics(BaseModel):
    """`GET /api/v2/notifications/availabletopics` (the SDK's AvailableTopicEntityListing)."""

    entities: list[AvailableTopic] = Field(default_factory=list, max_length=20_000)

    def websocket_templates(self) -> set[str]:
        """The topics offered over WebSocket, their parameters written `{id}` (the org
        names them `{id}`, `{conversationId}`...). A topic listed without its transports
        is taken as offered over WebSocket, the transport Genesys has always had."""
        return {
            _PARAMETER.sub("{id}", topic.id)
            for topic in self.entities
            if topic.transports is None or "WebSocket" in topic.transports
        }


_PARAMETER = re.compile(r"\{[^{}]*\}")


class _Scored(BaseModel):
    confidence: Confidence | None = None


@dataclass(frozen=True)
class SuggestionFields:
    suggestion_id: str
    conversation_id: str
    kind: str
    confidence: float | None
    text: str
    event_time: datetime | None


def read_suggestion(kind: str, body: dict, *, snippet_limit: int) -> SuggestionFields:
    """The insight fields of one suggestion, from a topic event or a REST listing entity.
    Raises pydantic's ValidationError.

    Confidence comes from `knowledgeSearch.confidence` or `activeIntent.confidence`; other
    kinds carry none, and none is invented (None)."""
    suggestion = Suggestion.model_validate(body)
    section = body.get(SUGGESTION_KINDS[kind])
    section = section if isinstance(section, dict) else {}
    confidence = None
    if kind in ("knowledge.search", "intent"):
        confidence = _Scored.model_validate({"confidence": section.get("confidence")}).confidence
    event_time = suggestion.event_time
    if event_time is not None and event_time.tzinfo is None:
        event_time = event_time.replace(tzinfo=UTC)
    return SuggestionFields(
        suggestion_id=suggestion.suggestion_id,
        conversation_id=suggestion.conversation_id,
        kind=kind,
        confidence=confidence,
        text=extract_snippet(_TEXTS[kind](section, body), limit=snippet_limit),
        event_time=event_time,
    )


def reference_id(section: dict, flat: str, nested: str) -> str | None:
    """An id as the topic event carries it (`responseId`) or as the listing does
    (`response.id`)."""
    value = section.get(flat)
    if isinstance(value, str) and value:
        return value
    ref = section.get(nested)
    value = ref.get("id") if isinstance(ref, dict) else None
    return value if isinstance(value, str) and value else None


def _joined(*parts) -> str:
    """The parts an officer reads, in order; a part the next one begins with (a title that is
    the first words of its answer) is not said twice."""
    kept = [p.strip() for p in parts if isinstance(p, str) and p.strip()]
    kept = [p for p, after in zip(kept, [*kept[1:], ""], strict=True) if not after.startswith(p)]
    return " — ".join(kept)


def _knowledge_text(section: dict, body: dict) -> str:
    """Title, then Copilot's answer, or else the snippets."""
    answer = section.get("knowledgeAnswer")
    if isinstance(answer, dict) and isinstance(answer.get("answer"), str):
        return _joined(section.get("title"), answer["answer"])
    snippets = section.get("snippets")
    return _joined(section.get("title"), *(snippets if isinstance(snippets, list) else []))


def _intent_text(section: dict, body: dict) -> str:
    """The intent's name, then its detected slots as `name: value`."""
    slots = section.get("detectedSlots")
    shown = [
        f"{slot.get('slotName')}: {slot.get('slotValue')}"
        for slot in (slots if isinstance(slots, list) else [])
        if isinstance(slot, dict) and slot.get("slotName") and slot.get("slotValue") is not None
    ]
    return _joined(section.get("intent"), "; ".join(shown))


def _third_party_text(section: dict, body: dict) -> str:
    """Title, text, then the sources it names."""
    sources = section.get("sources")
    names = [
        source.get("name") or source.get("url")
        for source in (sources if isinstance(sources, list) else [])
        if isinstance(source, dict)
    ]
    shown = ", ".join(n for n in names if isinstance(n, str) and n.strip())
    return _joined(section.get("title"), section.get("text"), f"sources: {shown}" if shown else "")


def _resolved_text(what: str, flat: str, nested: str):
    """A canned response's or a script's text: Genesys sends ids only; what the client
    resolved (RESOLVED_KEY) is read, or the reason it could not be, never an empty text."""

    def text(section: dict, body: dict) -> str:
        resolved = body.get(RESOLVED_KEY)
        if isinstance(resolved, dict) and (resolved.get("name") or resolved.get("text")):
            return _joined(resolved.get("name"), resolved.get("text"))
        why = resolved.get("error") if isinstance(resolved, dict) else None
        ident = reference_id(section, flat, nested) or "without an id"
        return f"{what} {ident} ({why or 'not resolved'})"

    return text


_TEXTS = {
    "knowledge.search": _knowledge_text,
    "knowledge.article": _knowledge_text,
    "intent": _intent_text,
    "thirdpartyaction": _third_party_text,
    "response": _resolved_text("Canned response", "responseId", "response"),
    "script": _resolved_text("Script", "scriptId", "script"),
}


def parse_cursor(value: str | None) -> datetime | None:
    """A stored resume cursor (an event time), or None when there is none or it is not a time
    (a cursor left by the seed flavour)."""
    return parse_time(value) if value else None
