"""Suggestions as Genesys Cloud's notifications API and REST listing carry them (PROTOCOL.md
section 2): the topics they arrive on, and the insight fields each one becomes."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from streams.genesys.payloads import Confidence, Identifier
from streams.genesys.scoring import extract_snippet
from streams.genesys.times import parse_time

# Suggestion kind (the topic's suffix, and the insight type) -> the event body's section.
SUGGESTION_KINDS = {
    "knowledge.search": "knowledgeSearch",
    "knowledge.article": "knowledgeArticle",
    "response": "cannedResponse",
    "script": "script",
    "intent": "activeIntent",
    "thirdpartyaction": "thirdPartyAction",
}
# The REST listing names kinds by `type`.
REST_TYPES = {
    "KnowledgeSearch": "knowledge.search",
    "KnowledgeArticle": "knowledge.article",
    "CannedResponse": "response",
    "Script": "script",
    "Intent": "intent",
    "ThirdPartyAction": "thirdpartyaction",
}
TOPIC_PREFIX = "v2.conversations."
TOPIC_INFIX = ".suggestions."


def suggestion_topic(conversation_id: str, kind: str) -> str:
    return f"{TOPIC_PREFIX}{conversation_id}{TOPIC_INFIX}{kind}"


def topic_kind(topic: str) -> tuple[str, str] | None:
    """(conversation id, kind) of a suggestion topic; None for any other topic."""
    if not topic.startswith(TOPIC_PREFIX):
        return None
    conversation, sep, kind = topic[len(TOPIC_PREFIX) :].partition(TOPIC_INFIX)
    if not sep or not conversation or kind not in SUGGESTION_KINDS:
        return None
    return conversation, kind


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
    """The insight fields of one suggestion. Raises pydantic's ValidationError.

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
        text=extract_snippet(_section_text(section), limit=snippet_limit),
        event_time=event_time,
    )


def _section_text(section: dict) -> str:
    """What an officer reads: the title, then the answer, or else the snippets, or the name."""
    parts = [section.get("title")]
    answer = section.get("knowledgeAnswer")
    if isinstance(answer, dict) and isinstance(answer.get("answer"), str):
        parts.append(answer["answer"])
    elif isinstance(section.get("snippets"), list):
        parts.extend(s for s in section["snippets"] if isinstance(s, str))
    parts.append(section.get("name"))
    for reference in ("response", "script", "library"):
        value = section.get(reference)
        if isinstance(value, dict):
            parts.append(value.get("name"))
    return " — ".join(p for p in parts if isinstance(p, str) and p.strip())


def parse_cursor(value: str | None) -> datetime | None:
    """A stored resume cursor (an event time), or None when there is none or it is not a time
    (a cursor left by the seed flavour)."""
    return parse_time(value) if value else None
