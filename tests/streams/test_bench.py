"""`manage.py bench` runs end to end and reports every figure it promises.

Speed itself is not asserted here (shared machines are noisy): the benchmark prints it.
"""

import json
import os

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

SQLITE_KEYS = {
    "ingest_per_s",
    "ceiling_receive_per_s",
    "ingest_ratio",
    "live_rate_per_s",
    "commit_p50_ms",
    "commit_p99_ms",
    "live_p50_ms",
    "live_p99_ms",
    "live_delivered_ratio",
    "fanout_msgs_per_s",
    "fanout_offered_per_s",
    "csv_rows_per_s",
    "csv_ceiling_rows_per_s",
    "csv_ratio",
    "csv_peak_rss_mb",
    "changelist_ms",
    "review_snapshot_ms",
}
POSTGRES_KEYS = {
    "ingest_pg_per_s",
    "csv_rows_per_s_pg",
    "csv_ceiling_rows_per_s_pg",
    "csv_ratio_pg",
    "csv_peak_rss_mb_pg",
    "changelist_ms_pg",
    "review_snapshot_ms_pg",
}


def test_a_small_run_measures_every_figure_on_scratch_databases(tmp_path, capsys):
    from streams.models import Insight

    out = tmp_path / "figures.json"
    call_command(
        "bench",
        *("--quick", "--events", "300", "--csv-rows", "500", "--live-seconds", "2"),
        *("--json", str(out)),
    )
    figures = json.loads(out.read_text())
    expected = SQLITE_KEYS | (
        POSTGRES_KEYS if os.environ.get("DATABASE_URL", "").startswith("postgres") else set()
    )
    assert expected <= set(figures), expected - set(figures)
    assert all(figures[key] > 0 for key in expected)
    assert (figures["events"], figures["csv_rows"]) == (300, 500)
    assert figures["ingest_ratio"] == round(
        figures["ingest_per_s"] / figures["ceiling_receive_per_s"], 3
    )
    # The pages got what was committed while they were open, from the live stream.
    assert 0 < figures["commit_p50_ms"] <= figures["commit_p99_ms"]
    assert figures["live_p50_ms"] <= figures["live_p99_ms"]
    assert figures["live_delivered_ratio"] <= 1
    assert figures["fanout_offered_per_s"] == pytest.approx(figures["live_rate_per_s"] * 100)
    table = capsys.readouterr().out
    assert "ingest_per_s" in table and "csv_peak_rss_mb" in table
    assert Insight.objects.count() == 0  # the database in use was not touched
