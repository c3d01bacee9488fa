"""Wire payloads of the seed flavour (PROTOCOL.md section 1), as pydantic models."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

EVENT_TYPE_INSIGHT = "agentassist.insight"
FILTER_ATTRIBUTES = ("event_type", "insight_type", "confidence", "interaction_id")
FILTER_OPERATORS = ("eq", "in", "gte", "lte")
KNOWN_INSIGHT_TYPES = ("knowledge_recommendation", "sentiment_alert", "compliance_flag")


def type_words(code: str) -> str:
    """An insight type's code in words, where no label is set: "next_best_action" ->
    "Next best action" (labels people may rename are in audit.vocabulary)."""
    words = " ".join(code.replace(".", " ").replace("_", " ").split())
    return words[:1].upper() + words[1:]


# Identifiers from outside: printable, no control characters, bounded.
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Confidence = Annotated[float, Field(strict=True, ge=0.0, le=1.0, allow_inf_nan=False)]


class Filter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["eq", "in", "gte", "lte"] = "eq"
    attribute: str
    value: Any

    @field_validator("attribute")
    @classmethod
    def known_attribute(cls, value: str) -> str:
        if value not in FILTER_ATTRIBUTES:
            raise ValueError(
                f"unknown filter attribute {value!r}: use one of {', '.join(FILTER_ATTRIBUTES)}"
            )
        return value

    @model_validator(mode="after")
    def value_fits_operator(self) -> "Filter":
        if self.type == "in":
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"filter 'in' on {self.attribute} needs a non-empty list")
        elif isinstance(self.value, list | dict):
            raise ValueError(f"filter {self.type!r} on {self.attribute} needs a single value")
        if self.type in ("gte", "lte"):
            if isinstance(self.value, bool) or not isinstance(self.value, int | float):
                raise ValueError(f"filter {self.type!r} on {self.attribute} needs a number")
            if self.attribute == "confidence" and not 0 <= self.value <= 1:
                raise ValueError(f"confidence filter value {self.value} is outside 0..1")
        return self

    def matches(self, event: dict) -> bool:
        actual = event.get(self.attribute)
        if self.attribute == "event_type":
            actual = event.get("type")
        if self.type == "eq":
            return actual == self.value
        if self.type == "in":
            return actual in self.value
        if not isinstance(actual, int | float) or isinstance(actual, bool):
            return False
        return actual >= self.value if self.type == "gte" else actual <= self.value


class ConfidenceThreshold(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_confidence: float = Field(ge=0.0, le=1.0)
    max_confidence: float = Field(default=1.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def ordered(self) -> "ConfidenceThreshold":
        if self.min_confidence > self.max_confidence:
            raise ValueError(
                f"min confidence {self.min_confidence} is above "
                f"max confidence {self.max_confidence}"
            )
        return self


class Subscription(BaseModel):
    """Seed 1's subscribe message, plus the resume_after extension."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["subscribe"] = "subscribe"
    id: Identifier
    filters: list[Filter]
    interaction_ids: list[Identifier] = Field(default_factory=list)
    confidence_threshold: ConfidenceThreshold
    resume_after: Identifier | None = None

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)

    def matches(self, event: dict) -> bool:
        if self.interaction_ids and event.get("interaction_id") not in self.interaction_ids:
            return False
        return all(f.matches(event) for f in self.filters)


def build_subscription(
    *,
    subscription_id: str,
    interaction_ids: list[str],
    insight_types: list[str],
    min_confidence: float,
    max_confidence: float,
    extra_filters: list[dict] | None = None,
    resume_after: str | None = None,
) -> Subscription:
    """Seed 1's filter set: the event type, the insight types, the confidence envelope."""
    filters: list[dict] = [{"type": "eq", "attribute": "event_type", "value": EVENT_TYPE_INSIGHT}]
    if insight_types:
        filters.append({"type": "in", "attribute": "insight_type", "value": insight_types})
    filters.append({"type": "gte", "attribute": "confidence", "value": min_confidence})
    filters.append({"type": "lte", "attribute": "confidence", "value": max_confidence})
    filters.extend(extra_filters or [])
    return Subscription(
        id=subscription_id,
        filters=filters,
        interaction_ids=interaction_ids,
        confidence_threshold={"min_confidence": min_confidence, "max_confidence": max_confidence},
        resume_after=resume_after,
    )


class SubscriptionAck(BaseModel):
    type: Literal["subscribed"]
    id: str
    resumed_after: str | None = None


class InsightEvent(BaseModel):
    """An insight frame. `id` and `timestamp` are extensions: used when present, never required."""

    type: Literal["agentassist.insight"]
    id: Identifier | None = None
    interaction_id: Identifier
    insight_type: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    confidence: Confidence
    content: Any = None
    timestamp: datetime | None = None

    @field_validator("insight_type")
    @classmethod
    def printable_type(cls, value: str) -> str:
        if not value.isprintable():
            raise ValueError("insight_type contains control characters")
        return value

    @field_validator("timestamp")
    @classmethod
    def aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class StreamLimits(BaseModel):
    max_concurrent_streams: int = Field(alias="maxConcurrentStreams", ge=0)
    max_subscriptions_per_stream: int | None = Field(
        default=None, alias="maxSubscriptionsPerStream", ge=0
    )
    current_streams: int = Field(alias="currentStreams", ge=0)

    @property
    def saturated(self) -> bool:
        return self.current_streams >= self.max_concurrent_streams
