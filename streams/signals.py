"""Config changes nudge the stream worker once their transaction commits."""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver

from streams.consumers import STREAMS_CHANNEL
from streams.models import (
    ConfidenceMatrix,
    ConfidenceRule,
    GenesysConnection,
    StreamConfig,
    StreamFilter,
    StreamStatus,
)

logger = logging.getLogger(__name__)

# Sent by the admin and by import_config when a person changes configuration.
# Arguments: actor (a user or None), action, obj, before (dict or None), after (dict or
# None), request (or None), source (a label such as "admin" or "import_config").
config_changed = Signal()


def report_config_change(
    *, obj, verb: str, before, after, actor, source: str, request=None
) -> None:
    """Tell the audit trail that a person (or a command on their behalf) changed `obj`."""
    noun = obj._meta.verbose_name.lower().replace(" ", "_")
    config_changed.send(
        sender=type(obj),
        actor=actor,
        action=f"{noun}.{verb}",
        obj=obj,
        before=before,
        after=after,
        request=request,
        source=source,
    )


# Sent by ingestion, inside the batch's transaction, when confidence-matrix rules decided
# insights. Arguments: stream_id, stream_name, decisions ({rule: {"status", "insights"}}).
insights_auto_decided = Signal()

# Sent by the stream worker when it starts or stops running a stream. Arguments: stream_id,
# stream_name, event ("start" or "stop"), reason, worker.
stream_run_changed = Signal()


def report_stream_run(**details) -> None:
    stream_run_changed.send(sender=StreamConfig, **details)


STREAM_INPUTS = (GenesysConnection, ConfidenceMatrix, ConfidenceRule, StreamConfig, StreamFilter)


_pending_nudges: set[asyncio.Task] = set()


def nudge_stream_worker() -> None:
    """Ask the stream worker to reconcile now (called on commit, from sync code)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(_send_nudge)()
    else:
        # Sync code running inside an event loop's thread (rare): send without blocking it.
        task = loop.create_task(_send_nudge())
        _pending_nudges.add(task)
        task.add_done_callback(_pending_nudges.discard)


async def _send_nudge() -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.send(STREAMS_CHANNEL, {"type": "streams.reconcile"})
    except ChannelFull:
        logger.debug("stream worker channel is full: a reconcile is already queued")
    except Exception as exc:
        logger.warning("cannot nudge the stream worker (%s); it reconciles periodically", exc)


def _on_stream_input_change(sender, **kwargs):
    transaction.on_commit(nudge_stream_worker)


for model in STREAM_INPUTS:
    post_save.connect(
        _on_stream_input_change, sender=model, dispatch_uid=f"nudge-save-{model.__name__}"
    )
    post_delete.connect(
        _on_stream_input_change, sender=model, dispatch_uid=f"nudge-delete-{model.__name__}"
    )


@receiver(post_save, sender=StreamConfig, dispatch_uid="stream-status-row")
def _ensure_status_row(sender, instance, created, **kwargs):
    if created:
        StreamStatus.objects.get_or_create(stream=instance)
