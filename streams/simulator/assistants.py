"""The simulated org's Agent Assist assistants, as Genesys serves them (the SDK's
`Assistant` with its `Copilot`, and `AssistantQueue`), and an admin on the Genesys side who
changes one now and then: what assistgov's drift check must notice.
"""

import uuid
from datetime import UTC, datetime

NAMESPACE = uuid.UUID("3f0c4d1e-7c0e-4a53-9f43-5a1d2b6e8a10")
CREATED = "2026-09-01T08:00:00.000Z"
NAMES = ("Retail banking assistant", "Cards and payments assistant")
SEARCH_TYPES = ("ArticlesOnly", "ArticlesWithAnswerHighlights", "AnswerGeneration")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Assistants:
    """Two assistants sharing the org's queues; `change()` is one edit in Genesys' admin."""

    def __init__(self, queues: list[str]):
        self.changes = 0
        self.items = []
        for n, name in enumerate(NAMES):
            # The same ids on every run, as an org's assistants keep theirs.
            assistant_id = str(uuid.uuid5(NAMESPACE, f"assistant:{n}"))
            self.items.append(
                {
                    "id": assistant_id,
                    "name": name,
                    "state": "Active",
                    "dateCreated": CREATED,
                    "dateModified": CREATED,
                    "createdBy": {"id": str(uuid.uuid5(NAMESPACE, "admin"))},
                    "modifiedBy": {"id": str(uuid.uuid5(NAMESPACE, "admin"))},
                    "copilot": {
                        "enabled": True,
                        "liveOnQueue": True,
                        "defaultLanguage": "en-us",
                        "knowledgeAnswerConfig": {"enabled": True},
                        "summaryGenerationConfig": {"enabled": True, "retentionSeconds": 86400},
                        "autoSearchConfig": {"type": "ArticlesWithAnswerHighlights"},
                        "nluEngineType": "NluV3",
                    },
                    "selfUri": f"/api/v2/assistants/{assistant_id}",
                    "queues": [q for i, q in enumerate(queues) if i % len(NAMES) == n],
                }
            )

    def listing(self, *, copilot: bool) -> list[dict]:
        """`GET /api/v2/assistants` (with `expand=copilot`, each one's copilot settings)."""
        return [
            {key: value for key, value in item.items() if key != "queues"}
            if copilot
            else {key: value for key, value in item.items() if key not in ("queues", "copilot")}
            for item in self.items
        ]

    def queues(self, assistant_id: str) -> list[dict] | None:
        """`GET /api/v2/assistants/{id}/queues` (None: no such assistant)."""
        item = next((a for a in self.items if a["id"] == assistant_id), None)
        if item is None:
            return None
        return [
            {
                "id": queue,
                "mediaTypes": ["Call", "Message"],
                "assistant": {"id": assistant_id, "selfUri": item["selfUri"]},
                "dateCreated": CREATED,
                "dateModified": item["dateModified"],
                "selfUri": f"{item['selfUri']}/queues/{queue}",
            }
            for queue in item["queues"]
        ]

    def change(self) -> str:
        """One edit, in turn: answer generation, summaries, the search mode, going live on
        queues, and a queue moved to the other assistant. Returns what changed, in words."""
        step = self.changes
        self.changes += 1
        item = self.items[step % len(self.items)]
        copilot = item["copilot"]
        what = step // len(self.items) % 5
        if what == 0:
            copilot["knowledgeAnswerConfig"]["enabled"] ^= True
            words = "knowledge answers switched"
        elif what == 1:
            copilot["summaryGenerationConfig"]["enabled"] ^= True
            words = "summaries switched"
        elif what == 2:
            current = SEARCH_TYPES.index(copilot["autoSearchConfig"]["type"])
            copilot["autoSearchConfig"]["type"] = SEARCH_TYPES[(current + 1) % len(SEARCH_TYPES)]
            words = "automatic search mode changed"
        elif what == 3:
            copilot["liveOnQueue"] ^= True
            words = "live on queue switched"
        else:
            other = self.items[(step + 1) % len(self.items)]
            if item["queues"]:
                other["queues"].append(item["queues"].pop())
                other["dateModified"] = _now()
            words = "a queue moved to the other assistant"
        item["dateModified"] = _now()
        return f"{item['name']}: {words}"
