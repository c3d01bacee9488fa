"""Live updates to review pages: ids of new or decided items, sent after commit.

The channel layer may drop messages (capacity, expiry); pages treat these messages as
hints and read the rows from the database, which is the source of truth. An item is an
insight or a knowledge answer (`kind`).
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from assistgov.asyncdb import cancellable

logger = logging.getLogger(__name__)

REVIEW_GROUP = "review"
INSIGHT, KNOWLEDGE = "insight", "knowledge"


async def announce_insights(layer, insight_ids: list[int]) -> None:
    """From the stream runner, once per stored batch."""
    await _send(layer, _message("review.items", INSIGHT, insight_ids))


def announce_knowledge(query_ids: list[int]) -> None:
    """From sync code after commit: knowledge answers that joined the review queue."""
    async_to_sync(_send)(get_channel_layer(), _message("review.items", KNOWLEDGE, query_ids))


def announce_decisions(ids: list[int], kind: str = INSIGHT) -> None:
    """From sync code after commit: these items were decided."""
    async_to_sync(_send)(get_channel_layer(), _message("review.decisions", kind, ids))


def announce_claims(ids: list[int], kind: str = INSIGHT) -> None:
    """From sync code after commit: these items were claimed, assigned or released."""
    async_to_sync(_send)(get_channel_layer(), _message("review.claims", kind, ids))


async def announce_health(layer) -> None:
    """A stream's state changed: pages show a banner while one is not connected."""
    if layer is None:
        return
    try:
        await cancellable(layer.group_send)(REVIEW_GROUP, {"type": "review.health"})
    except Exception as exc:  # lossy by contract: pages also read the health every few seconds
        logger.warning("live update (stream health) not sent: %s", exc)


def _message(event: str, kind: str, ids: list[int]) -> dict:
    return {"type": event, "kind": kind, "ids": list(ids)}


async def _send(layer, message: dict) -> None:
    if layer is None or not message["ids"]:
        return
    try:
        await cancellable(layer.group_send)(REVIEW_GROUP, message)
    except Exception as exc:  # the layer is lossy by contract; never stall the sender on it
        logger.warning(
            "live update (%s) for %d %s item(s) not sent: %s",
            message["type"],
            len(message["ids"]),
            message["kind"],
            exc,
        )
