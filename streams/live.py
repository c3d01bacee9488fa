"""Live updates to review pages: one batched message per stored batch, after commit.

The channel layer may drop messages (capacity, expiry); pages treat these messages as
hints and read the rows from the database, which is the source of truth.
"""

import logging

logger = logging.getLogger(__name__)

REVIEW_GROUP = "review"


async def announce_insights(layer, stream_id: int, insight_ids: list[int]) -> None:
    if layer is None or not insight_ids:
        return
    message = {"type": "review.insights", "stream_id": stream_id, "ids": insight_ids}
    try:
        await layer.group_send(REVIEW_GROUP, message)
    except Exception as exc:  # the layer is lossy by contract; never stall ingestion on it
        logger.warning("live update for %d insights not sent: %s", len(insight_ids), exc)


def announce_decisions(insight_ids: list[int]) -> None:
    """From sync code after commit: tell open review pages that these insights were decided."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None or not insight_ids:
        return
    try:
        async_to_sync(layer.group_send)(
            REVIEW_GROUP, {"type": "review.decisions", "ids": insight_ids}
        )
    except Exception as exc:
        logger.warning("live update for %d decisions not sent: %s", len(insight_ids), exc)
