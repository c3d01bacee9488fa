"""Conversations that start and end in queues, as a contact centre's do.

With queues on (`SimulatorConfig.queues` > 0) the simulator keeps `interactions` live
conversations, each in a queue and with an agent; every `conversation_turnover` events the
oldest ends and a new one starts. Each start and end is an event on the queue's and the
agent's conversations topics (`v2.routing.queues.{id}.conversations`,
`v2.users.{id}.conversations`), with the participants' shape of Genesys'
`QueueConversationEventTopicConversation`. Suggestions are only made in live conversations.
"""

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from streams.genesys.suggestions import QUEUE_TOPIC, USER_TOPIC
from streams.genesys.summaries import summary_topic
from streams.genesys.times import iso
from streams.simulator import texts

NAMESPACE = uuid.UUID("1d3a8e55-2f7c-4f0e-9c61-8a4b2e7d90c3")
QUEUE_NAMES = ("Billing", "Card services", "Claims", "Retentions", "Technical support")
AGENT_NAMES = ("Ada Osei", "Bruno Keller", "Chen Wei", "Dara Byrne", "Elif Aydin", "Femi Adeyemi")


def queue_ids(count: int) -> list[str]:
    """The simulator's queue ids: the same for every run, so a stream can name them."""
    return [str(uuid.uuid5(NAMESPACE, f"queue:{n}")) for n in range(count)]


def agent_ids(count: int) -> list[str]:
    return [str(uuid.uuid5(NAMESPACE, f"agent:{n}")) for n in range(count)]


DIVISION = {
    "id": str(uuid.uuid5(NAMESPACE, "division:home")),
    "name": "Home",
    "selfUri": f"/api/v2/authorization/divisions/{uuid.uuid5(NAMESPACE, 'division:home')}",
}
CREATED = "2024-03-01T09:00:00.000Z"


def agent_name(n: int) -> str:
    base = AGENT_NAMES[n % len(AGENT_NAMES)]
    return base if n < len(AGENT_NAMES) else f"{base} {n // len(AGENT_NAMES) + 1}"


def queue_name(n: int) -> str:
    base = QUEUE_NAMES[n % len(QUEUE_NAMES)]
    return base if n < len(QUEUE_NAMES) else f"{base} {n // len(QUEUE_NAMES) + 1}"


@dataclass
class Conversation:
    id: str
    queue: str
    agent: str
    started: str
    ended: str | None = None
    topics: tuple[str, ...] = field(default=())

    def event(self) -> dict:
        """The conversation as the queue and user topics carry it."""
        ended = self.ended

        def party(purpose: str, **who) -> dict:
            call = {"state": "disconnected" if ended else "connected", "id": f"{self.id}-c"}
            return {
                "id": str(uuid.uuid5(NAMESPACE, f"{self.id}:{purpose}")),
                "purpose": purpose,
                "connectedTime": self.started,
                **({"endTime": ended} if ended else {}),
                "queueId": self.queue,
                "calls": [call],
                **who,
            }

        return {
            "id": self.id,
            "participants": [
                party("customer", address="tel:+15550100"),
                party("agent", userId=self.agent),
            ],
        }

    @property
    def summary_topic(self) -> str:
        return summary_topic(self.agent)

    def summary_event(self) -> dict:
        """Agent Copilot's summary once it ended, as the agent's summaries topic carries it
        (`ConversationSummaryTopicConversationSummaryEvent`); the same for a seed."""
        rng = random.Random(self.id)
        text, codes, reason, resolution, follow_up = rng.choice(texts.SUMMARIES)
        scores = sorted((round(rng.uniform(0.35, 0.97), 2) for _ in codes), reverse=True)
        return {
            "conversationId": self.id,
            "summaryId": str(uuid.uuid5(NAMESPACE, f"summary:{self.id}")),
            "queueId": self.queue,
            "participants": [{"userId": self.agent, "purpose": "AGENT"}],
            "createdDate": self.ended,
            "mediaType": "CALL",
            "language": "en-us",
            "summary": {"text": text, "score": round(rng.uniform(0.55, 0.98), 2)},
            "reason": {"text": reason},
            "resolution": {"text": resolution},
            "followupActions": [{"text": follow_up, "score": 0.8}] if follow_up else [],
            "wrapUpCodes": [
                {
                    "wrapUpCodeId": str(uuid.uuid5(NAMESPACE, f"wrapup:{name}")),
                    "name": name,
                    "score": score,
                }
                for name, score in zip(codes, scores, strict=True)
            ],
            "triggerSource": {"sourceType": "COPILOT"},
        }

    def summary_rest(self) -> dict:
        """The same summary as `GET /api/v2/conversations/{id}/summaries` gives it
        (`ConversationSummary`)."""
        event = self.summary_event()
        return {
            "id": event["summaryId"],
            "text": event["summary"]["text"],
            "confidence": event["summary"]["score"],
            "status": "Completed",
            "mediaType": "Call",
            "language": "en-us",
            "predictedWrapupCodes": [
                {"id": c["wrapUpCodeId"], "name": c["name"], "confidence": c["score"]}
                for c in event["wrapUpCodes"]
            ],
            "reason": event["reason"],
            "resolution": event["resolution"],
            "followup": event["followupActions"][0] if event["followupActions"] else None,
            "dateCreated": event["createdDate"],
        }


class ConversationLife:
    def __init__(self, *, queues: int, agents: int, live: int, turnover: int, run: str):
        self.queues = queue_ids(queues)
        self.agents = agent_ids(max(1, agents))
        self.turnover = max(1, turnover)
        self.run = run
        self.started = 0
        self.events_since_turn = 0
        self.live: dict[str, Conversation] = {}
        self.known: dict[str, Conversation] = {}
        for _ in range(max(1, live)):
            self._start()

    def _start(self) -> Conversation:
        n = self.started
        self.started += 1
        conversation = Conversation(
            id=str(uuid.uuid5(NAMESPACE, f"{self.run}:conversation:{n}")),
            queue=self.queues[n % len(self.queues)],
            agent=self.agents[n % len(self.agents)],
            started=iso(datetime.now(UTC)),
        )
        conversation.topics = (
            QUEUE_TOPIC.format(conversation.queue),
            USER_TOPIC.format(conversation.agent),
        )
        self.live[conversation.id] = conversation
        self.known[conversation.id] = conversation
        return conversation

    def tick(self) -> list[Conversation]:
        """One event is about to be made: the conversations that changed (ended, started)."""
        self.events_since_turn += 1
        if self.events_since_turn < self.turnover:
            return []
        self.events_since_turn = 0
        oldest = next(iter(self.live.values()))
        del self.live[oldest.id]
        oldest.ended = iso(datetime.now(UTC))
        return [oldest, self._start()]

    def ids(self) -> list[str]:
        return list(self.live)

    def queue_of(self, conversation: str) -> str | None:
        known = self.known.get(conversation)
        return known.queue if known is not None else None

    def agent_of(self, conversation: str) -> str | None:
        known = self.known.get(conversation)
        return known.agent if known is not None else None

    def queue_listing(self) -> list[dict]:
        """The queues as `GET /api/v2/routing/queues` gives them (the SDK's `Queue`)."""
        return [
            {
                "id": q,
                "name": queue_name(n),
                "division": DIVISION,
                "dateCreated": CREATED,
                "memberCount": len(self.agents),
                "selfUri": f"/api/v2/routing/queues/{q}",
            }
            for n, q in enumerate(self.queues)
        ]

    def user_listing(self) -> list[dict]:
        """The agents as `GET /api/v2/users` gives them (the SDK's `User`)."""
        return [
            {
                "id": a,
                "name": agent_name(n),
                "division": DIVISION,
                "state": "active",
                "selfUri": f"/api/v2/users/{a}",
            }
            for n, a in enumerate(self.agents)
        ]
