"""Stream leases: which worker runs which stream, by conditional UPDATEs in the database.

A worker claims a stream only when nobody holds it or its lease has expired, renews the
leases it holds at every reconcile, and releases them when it stops. Streams are shared
out: each worker holds at most its fair share of the enabled streams, counting the
workers that have sent a heartbeat within one lease.
"""

import math
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from streams.worker.models import StreamStatus, WorkerHeartbeat


def heartbeat(worker: str, ttl: float) -> int:
    """Record that `worker` is alive; returns how many workers are (itself included)."""
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(worker=worker, defaults={"seen_at": now})
    return WorkerHeartbeat.objects.filter(seen_at__gte=now - timedelta(seconds=ttl)).count()


def fair_share(streams: int, workers: int) -> int:
    return math.ceil(streams / max(workers, 1))


def claim(worker: str, stream_ids: list[int], ttl: float, limit: int) -> set[int]:
    """Renew this worker's leases among `stream_ids`, then claim free ones up to `limit`."""
    now = timezone.now()
    expires = now + timedelta(seconds=ttl)
    held = StreamStatus.objects.filter(pk__in=stream_ids, worker=worker)
    held.update(lease_expires_at=expires)
    mine = set(held.values_list("pk", flat=True))
    free = Q(worker="") | Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    for stream_id in sorted(set(stream_ids) - mine):
        if len(mine) >= limit:
            break
        won = (
            StreamStatus.objects.filter(free, pk=stream_id)
            .exclude(worker=worker)
            .update(worker=worker, lease_expires_at=expires)
        )
        if won:
            mine.add(stream_id)
    return mine


def release(worker: str, stream_ids) -> None:
    StreamStatus.objects.filter(pk__in=list(stream_ids), worker=worker).update(
        worker="", lease_expires_at=None
    )


def retire(worker: str) -> None:
    """The worker is stopping: it holds nothing any more and is not counted as alive."""
    StreamStatus.objects.filter(worker=worker).update(worker="", lease_expires_at=None)
    WorkerHeartbeat.objects.filter(worker=worker).delete()
