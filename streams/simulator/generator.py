"""Reproducible synthetic insights: the same seed gives the same events in the same order."""

import random
from datetime import UTC, datetime

from streams.genesys.payloads import KNOWN_INSIGHT_TYPES
from streams.simulator import texts

INSIGHT_TYPES = KNOWN_INSIGHT_TYPES
TYPE_WEIGHTS = (0.55, 0.25, 0.20)
# Seed 1's example interactions are in the pool, so its own client receives insights.
FIXED_INTERACTIONS = ("interaction-12345", "interaction-67890")


def event_id(seq: int, run: str = "") -> str:
    return f"evt-{run}-{seq:09d}" if run else f"evt-{seq:09d}"


def event_seq(value: str, run: str = "") -> int | None:
    """The sequence number in an id of this run, or None for any other id."""
    prefix = f"evt-{run}-" if run else "evt-"
    digits = value.removeprefix(prefix)
    if digits == value or not digits.isdigit():
        return None
    return int(digits)


def interaction_ids(count: int = 20) -> list[str]:
    """The simulator's conversations: seed 1's two examples, then numbered ones."""
    return list(FIXED_INTERACTIONS) + [f"interaction-{10000 + n}" for n in range(max(0, count - 2))]


def personal_text(rng: random.Random) -> str:
    """A text with a customer's card number, e-mail address, IBAN or phone number in it."""
    template, kind = rng.choice(texts.PERSONAL)
    return template.format(**{kind: rng.choice(texts.PERSONAL_VALUES[kind])})


class EventGenerator:
    def __init__(
        self,
        *,
        seed: int,
        interactions: int = 20,
        hostile_ratio: float = 0.0,
        personal_ratio: float = 0.0,
        run: str = "",
    ):
        self.rng = random.Random(seed)
        # Texts are drawn apart, so a change of the corpus never changes which conversation,
        # type or confidence an event has.
        self.text_rng = random.Random(f"texts:{seed}")
        self.run = run
        self.hostile_ratio = hostile_ratio
        self.personal_ratio = personal_ratio
        self.interactions = interaction_ids(interactions)
        self.seq = 0

    def next_event(self) -> dict:
        self.seq += 1
        insight_type = self.rng.choices(INSIGHT_TYPES, TYPE_WEIGHTS)[0]
        confidence = round(min(1.0, max(0.0, self.rng.betavariate(5, 1.6))), 3)
        if self.rng.random() < self.hostile_ratio:
            text = self.rng.choice(texts.HOSTILE)
        elif self.personal_ratio and self.rng.random() < self.personal_ratio:
            text = personal_text(self.rng)
        else:
            text = self.text_rng.choice(texts.BY_TYPE[insight_type])
        content = {"text": text}
        if insight_type == "knowledge_recommendation":
            content["knowledge_base_id"] = self.rng.choice(("kb-1", "kb-2", "kb-3"))
        return {
            "type": "agentassist.insight",
            "id": event_id(self.seq, self.run),
            "interaction_id": self.rng.choice(self.interactions),
            "insight_type": insight_type,
            "confidence": confidence,
            "content": content,
            "timestamp": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }
