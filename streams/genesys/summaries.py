"""Agent Copilot's conversation summaries and predicted wrap-up codes (GENESYS-NOTES.md 1.3),
which Genesys keeps only 10 days and for whose unpicked wrap-up codes it keeps no record.

Two shapes carry a summary: the `v2.users.{id}.conversations.summaries` topic's event
(`summary {text, score}`, `wrapUpCodes [{wrapUpCodeId, name, description, score}]`,
`followupActions`, `reason`, `resolution`, `createdDate`) and the REST
`GET /api/v2/conversations/{id}/summaries` answer's `ConversationSummary` (`text`,
`confidence`, `predictedWrapupCodes [{id, name, description, confidence}]`, `followup`,
`reason`, `resolution`, `dateCreated`). Both become one insight of type `summary`, whose
payload is the summary in one shape (`normalised`), so officers, exports and webhooks read
one thing.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints

from streams.genesys.payloads import Confidence, Identifier

SUMMARY_TYPE = "summary"
SUMMARY_TOPIC = "v2.users.{}.conversations.summaries"
SUMMARIES_PATH = "/api/v2/conversations/{}/summaries"
# The suffix of the topic above; the REST back-fill hands its summaries on a topic of the
# conversation (`v2.conversations.{id}.summaries`, which nothing subscribes to).
SUMMARY_SUFFIX = ".summaries"
Text = Annotated[str, StringConstraints(max_length=20000)]
Short = Annotated[str, StringConstraints(max_length=2000)]


def summary_topic(user: str) -> str:
    return SUMMARY_TOPIC.format(user)


def is_summary_topic(topic: str) -> bool:
    return topic.endswith(SUMMARY_SUFFIX) and topic.startswith(("v2.users.", "v2.conversations."))


class _Scored(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: Text | None = None
    score: Confidence | None = None


class _WrapUp(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Short | None = Field(default=None, validation_alias=AliasChoices("wrapUpCodeId", "id"))
    name: Short = ""
    description: Short | None = None
    score: Confidence | None = Field(
        default=None, validation_alias=AliasChoices("score", "confidence")
    )


class _FollowUp(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: Short = ""
    description: Short | None = None
    score: Confidence | None = None


class Summary(BaseModel):
    """A summary from the topic's event or the REST answer."""

    model_config = ConfigDict(extra="allow")

    summary_id: Identifier = Field(validation_alias=AliasChoices("summaryId", "id"))
    conversation_id: Identifier
    text: Text = ""
    confidence: Confidence | None = None
    wrap_up_codes: list[_WrapUp] = Field(default_factory=list, max_length=50)
    reason: Short | None = None
    resolution: Short | None = None
    follow_up: list[_FollowUp] = Field(default_factory=list, max_length=50)
    created: datetime | None = None

    @classmethod
    def read(cls, body: dict, conversation: str = "") -> "Summary":
        """Either shape; raises pydantic's ValidationError."""
        scored = body.get("summary")
        if isinstance(scored, dict):  # the topic's event
            text = _Scored.model_validate(scored)
            return cls.model_validate(
                {
                    "summaryId": body.get("summaryId"),
                    "conversation_id": body.get("conversationId") or conversation,
                    "text": text.text or "",
                    "confidence": text.score,
                    "wrap_up_codes": body.get("wrapUpCodes") or [],
                    "reason": _words(body.get("reason")),
                    "resolution": _words(body.get("resolution")),
                    "follow_up": body.get("followupActions") or [],
                    "created": body.get("createdDate"),
                }
            )
        followup = body.get("followup")
        return cls.model_validate(
            {
                "id": body.get("id"),
                "conversation_id": conversation or (body.get("conversation") or {}).get("id"),
                "text": body.get("text") or "",
                "confidence": body.get("confidence"),
                "wrap_up_codes": body.get("predictedWrapupCodes") or [],
                "reason": _words(body.get("reason")),
                "resolution": _words(body.get("resolution")),
                "follow_up": [{"text": _words(followup)}] if _words(followup) else [],
                "created": body.get("dateCreated"),
            }
        )

    def normalised(self) -> dict:
        """The payload kept: one shape, whatever carried it."""
        return {
            "summaryId": self.summary_id,
            "conversationId": self.conversation_id,
            "text": self.text,
            "confidence": self.confidence,
            "wrapUpCodes": [w.model_dump(exclude_none=True) for w in self.wrap_up_codes],
            "reason": self.reason,
            "resolution": self.resolution,
            "followUp": [f.model_dump(exclude_none=True) for f in self.follow_up],
            "createdDate": self.created.isoformat() if self.created else None,
        }

    @property
    def event_time(self) -> datetime | None:
        if self.created is not None and self.created.tzinfo is None:
            return self.created.replace(tzinfo=UTC)
        return self.created


def _words(value: Any) -> str | None:
    """Reason, resolution and follow-up come as text or as {text}."""
    if isinstance(value, dict):
        value = value.get("text")
    return value if isinstance(value, str) and value.strip() else None


@dataclass(frozen=True)
class Detail:
    label: str
    value: str


def details(payload: dict) -> list[Detail]:
    """What an officer reads beside a summary: the whole text, the predicted wrap-up codes
    with their confidence, the reason, the resolution and the follow-up."""
    found = [Detail("Summary", payload.get("text") or "")]
    codes = payload.get("wrapUpCodes") or []
    if codes:
        found.append(
            Detail(
                "Predicted wrap-up codes",
                "; ".join(
                    f"{c.get('name') or c.get('id')}"
                    + (f" ({c['score']:.2f})" if isinstance(c.get("score"), int | float) else "")
                    for c in codes
                ),
            )
        )
    for label, key in (("Reason", "reason"), ("Resolution", "resolution")):
        if payload.get(key):
            found.append(Detail(label, payload[key]))
    follow = [f.get("text") for f in payload.get("followUp") or [] if f.get("text")]
    if follow:
        found.append(Detail("Follow-up", "; ".join(follow)))
    return found
