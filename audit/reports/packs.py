"""Evidence packs asked for in the browser: each is written by a thread of the process
that was asked (the page shows its progress), into VAR_DIR/evidence, and downloaded from
there. A pack whose writer stopped (the server restarted) is marked failed, to ask again."""

import logging
import threading
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from audit.reports import evidence
from audit.reports.models import EvidencePack

logger = logging.getLogger(__name__)

# A writer reports after each member; this long without a report, it has stopped.
STALLED = timedelta(minutes=15)


def folder() -> Path:
    return Path(settings.VAR_DIR) / "evidence"


def request(*, since, until, by) -> EvidencePack:
    """Record the request and start writing the pack in the background."""
    pack = EvidencePack.objects.create(
        since=since, until=until, requested_by=by, total=len(evidence.MEMBERS)
    )
    threading.Thread(target=write, args=(pack.pk,), name=f"evidence-{pack.pk}", daemon=True).start()
    return pack


def write(pack_id: int) -> None:
    """Write one pack (in its own thread, with its own database connection)."""
    close_old_connections()
    try:
        pack = EvidencePack.objects.select_related("requested_by").get(pk=pack_id)
        name = f"assistgov-evidence-{pack.since:%Y%m%d}-{pack.until:%Y%m%d}-{pack.pk}.zip"
        EvidencePack.objects.filter(pk=pack_id).update(
            status=EvidencePack.Status.RUNNING, file_name=name, updated_at=timezone.now()
        )

        def progress(step, done, total):
            EvidencePack.objects.filter(pk=pack_id).update(
                step=step, done=done, total=total, updated_at=timezone.now()
            )

        manifest = evidence.generate(
            folder() / name,
            since=pack.since,
            until=pack.until,
            actor=pack.requested_by,
            progress=progress,
        )
        EvidencePack.objects.filter(pk=pack_id).update(
            status=EvidencePack.Status.DONE,
            done=len(manifest["members"]),
            step="",
            sha256=manifest["sha256"],
            bytes=manifest["bytes"],
            updated_at=timezone.now(),
        )
    except Exception as exc:
        logger.exception("evidence pack %s could not be written", pack_id)
        EvidencePack.objects.filter(pk=pack_id).update(
            status=EvidencePack.Status.FAILED, error=str(exc)[:500], updated_at=timezone.now()
        )
    finally:
        connections.close_all()


def mark_stalled() -> int:
    """Packs whose writer stopped reporting: failed, with why."""
    return EvidencePack.objects.filter(
        status__in=(EvidencePack.Status.QUEUED, EvidencePack.Status.RUNNING),
        updated_at__lt=timezone.now() - STALLED,
    ).update(
        status=EvidencePack.Status.FAILED,
        error="Its writing stopped (the server restarted or stopped): ask for it again.",
    )


def path_of(pack: EvidencePack, what: str) -> Path:
    name = pack.file_name + (".manifest.json" if what == "manifest" else "")
    return folder() / name


def monthly_pack(now=None) -> Path | None:
    """Last month's pack, written once into EVIDENCE_MONTHLY_DIR (None: not asked for, or
    already there). The pack's audit entry names its digest and its manifest's, so each
    month's trail proves the packs made before."""
    target = settings.EVIDENCE_MONTHLY_DIR
    if not target:
        return None
    now = timezone.localtime(now or timezone.now())
    this_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    path = Path(target) / f"assistgov-evidence-{last_month:%Y-%m}.zip"
    if path.with_name(path.name + ".manifest.json").exists():
        return None
    evidence.generate(path, since=last_month, until=this_month, actor_label="Monthly evidence pack")
    logger.info("monthly evidence pack written: %s", path)
    return path


async def monthly_packer(worker: str) -> None:
    """(A stream worker task.) Look hourly whether last month's pack is due."""
    from audit.trail.periodic import every_period

    await every_period("evidence-monthly", 3600.0, worker, lambda stop: monthly_pack())
