"""The evidence pack over a large period: `manage.py evidence` in a process of its own over
`rows` decisions (nine in ten by nine officers, each with its time from opening, one in ten by a
rule): seconds to write the signed pack, and the process's peak memory (as it reports it)."""

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from assistgov import memory
from perf.csvpages import fill
from perf.runner import MANAGE

KEYS = ("evidence_s", "evidence_peak_rss_mb")


def measure(rows: int) -> dict:
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.db.models import F
    from django.db.models.functions import Mod

    from streams.models import Insight

    fill(rows, decided_every=1)
    officers = [
        get_user_model().objects.create_user(username=f"bench-officer-{n}") for n in range(9)
    ]
    for n, officer in enumerate(officers):
        Insight.objects.alias(slot=Mod("id", 10)).filter(slot=n).update(
            reviewed_by=officer, review_opened_at=F("reviewed_at") - timedelta(seconds=20 + n)
        )
    Insight.objects.filter(reviewed_by__isnull=True).update(
        review_rule="confidence matrix bench version 1, compliance_flag: auto-approve"
    )
    from django.db import connection

    if connection.vendor == "sqlite":  # the updates above, folded into the database file
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    with tempfile.TemporaryDirectory(prefix="assistgov-evidence-") as folder:
        started = time.perf_counter()
        period = ["--since", "2025-12-01", "--until", "2027-01-01"]
        pack = ["-o", str(Path(folder) / "pack.zip")]
        process = subprocess.run(
            [sys.executable, str(MANAGE), "evidence", "-v", "2", *period, *pack],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"manage.py evidence failed: {process.stderr.strip()[-300:]}")
    # Its own peak, as it reports it (the wait's rusage would count this process's too, from
    # which it was forked).
    peak = re.search(memory.PATTERN, process.stderr)
    if peak is None:
        raise RuntimeError("manage.py evidence did not report its memory")
    return {"evidence_s": round(elapsed, 1), "evidence_peak_rss_mb": float(peak.group(1))}
