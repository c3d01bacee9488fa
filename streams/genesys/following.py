"""Following queues and agents: the conversations a notifications stream subscribes to as
they start, instead of a list an admin types (PROTOCOL.md section 2).

The client watches `v2.routing.queues.{id}.conversations` and `v2.users.{id}.conversations`.
A conversation that starts is followed: its suggestion topics are subscribed on a channel
with room and its REST listing is back-filled (what it said before the subscription). One
that ends is kept a while (`linger`: late suggestions) and then unsubscribed. Followed
conversations are kept by a `FollowLog` (the database, in the worker), so a restart or a
hand-over to another worker follows the same ones.

Nothing is lost when the channels are full: a new conversation waits (oldest followed
conversations keep their place) and is subscribed and back-filled when room frees, or
back-filled whole when it ends. A conversation seen only as it ends (it started before the
stream watched, or while no socket was open) is back-filled whole. Conversations that start
and end while no socket is open are found with Genesys' Copilot aggregates (suggestion
counts by conversation over the gap), and back-filled.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from streams.genesys.times import iso

logger = logging.getLogger(__name__)

AGGREGATES_PATH = "/api/v2/analytics/agentcopilots/aggregates/query"


@dataclass
class Followed:
    conversation: str
    via: str  # "queue <id>" or "agent <id>"
    started: float  # wall clock: when it was seen to start
    ended: float | None = None  # when it was seen to end
    waiting: bool = False  # seen, not subscribed: no room on the channels


class FollowLog(Protocol):
    """Where a client keeps the conversations it follows."""

    async def load(self) -> list[Followed]: ...

    async def save(self, followed: Followed) -> None: ...

    async def forget(self, conversations: list[str]) -> None: ...

    async def note(self, message: str) -> None:
        """Something people must know (the channels are full, or have room again)."""


class MemoryFollowLog:
    """A FollowLog in memory: one client's life only."""

    def __init__(self):
        self.followed: dict[str, Followed] = {}
        self.notes: list[str] = []

    async def load(self) -> list[Followed]:
        return list(self.followed.values())

    async def save(self, followed: Followed) -> None:
        self.followed[followed.conversation] = followed

    async def forget(self, conversations: list[str]) -> None:
        for conversation in conversations:
            self.followed.pop(conversation, None)

    async def note(self, message: str) -> None:
        self.notes.append(message)


# The Copilot aggregates query (GENESYS-NOTES.md 1.5)


class _Group(BaseModel):
    model_config = ConfigDict(extra="allow")
    conversation_id: str | None = Field(default=None, alias="conversationId", max_length=128)
    suggestion_type: str | None = Field(default=None, alias="suggestionType", max_length=64)


class _Stats(BaseModel):
    count: int = 0


class _Metric(BaseModel):
    metric: str = ""
    stats: _Stats = Field(default_factory=_Stats)


class _Data(BaseModel):
    metrics: list[_Metric] = Field(default_factory=list)


class _Result(BaseModel):
    group: _Group = Field(default_factory=_Group)
    data: list[_Data] = Field(default_factory=list)

    def count(self) -> int:
        return sum(m.stats.count for d in self.data for m in d.metrics)


class AggregateResponse(BaseModel):
    results: list[_Result] = Field(default_factory=list)

    def conversations(self) -> dict[str, int]:
        """Suggestions per conversation."""
        found: dict[str, int] = {}
        for (conversation, _), count in self.by_conversation_and_type().items():
            found[conversation] = found.get(conversation, 0) + count
        return found

    def by_conversation_and_type(self) -> dict[tuple[str, str], int]:
        """Suggestions per (conversation, Genesys' suggestion type)."""
        found: dict[tuple[str, str], int] = {}
        for result in self.results:
            conversation = result.group.conversation_id
            if conversation:
                key = (conversation, result.group.suggestion_type or "")
                found[key] = found.get(key, 0) + result.count()
        return found


def conversations_query(
    queues: list[str],
    users: list[str],
    start: float,
    end: float,
    *,
    conversations: list[str] = (),
    by_type: bool = False,
) -> dict:
    """Suggestion counts by conversation (and type) in the queues, of the agents and in the
    conversations, between two wall clock times (`AgentCopilotAggregationQuery`)."""
    predicates = [
        {"type": "dimension", "dimension": dimension, "operator": "matches", "value": value}
        for dimension, values in (
            ("queueId", queues),
            ("userId", users),
            ("conversationId", conversations),
        )
        for value in values
    ]
    interval = f"{iso(datetime.fromtimestamp(start, UTC))}/{iso(datetime.fromtimestamp(end, UTC))}"
    return {
        "interval": interval,
        "groupBy": ["conversationId", "suggestionType"] if by_type else ["conversationId"],
        "filter": {"type": "or", "predicates": predicates},
        "metrics": ["nDistinctSuggestions"],
    }
