"""Configuration changes nudge the stream worker once their transaction commits (it also
reconciles periodically, so a lost nudge only delays a change)."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from streams.config.models import (
    ConfidenceMatrix,
    ConfidenceRule,
    GenesysConnection,
    StreamConfig,
    StreamFilter,
)
from streams.worker.consumer import nudge_stream_worker
from streams.worker.models import StreamStatus

STREAM_INPUTS = (GenesysConnection, ConfidenceMatrix, ConfidenceRule, StreamConfig, StreamFilter)


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
