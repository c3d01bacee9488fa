"""`manage.py bench` runs end to end and reports every figure it promises.

Speed itself is not asserted here (shared machines are noisy): the benchmark prints it.
"""

import json
import os

import pytest
from django.core.management import call_command

from tests.conftest import chromium_path

pytestmark = pytest.mark.django_db

SQLITE_KEYS = {
    "host_loop_s",
    "host_load_1m",
    "live_offered_per_s",
    "ingest_per_s",
    "ceiling_receive_per_s",
    "ingest_ratio",
    "ingest_webhook_per_s",
    "ingest_webhook_ratio",
    "webhook_drain_s",
    "webhook_delivered",
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
    "review_first_page_ms",
    "review_page_next_ms",
    "review_key_p95_ms",
    "review_main_thread_busy",
}
POSTGRES_KEYS = {
    "ingest_pg_per_s",
    "csv_rows_per_s_pg",
    "csv_ceiling_rows_per_s_pg",
    "csv_ratio_pg",
    "csv_peak_rss_mb_pg",
    "changelist_ms_pg",
    "review_snapshot_ms_pg",
    "review_first_page_ms_pg",
    "review_page_next_ms_pg",
    "review_key_p95_ms_pg",
    "review_main_thread_busy_pg",
}


# Figures that do not depend on a timed window: a run that finishes always has them.
ALWAYS_MEASURED = {
    "ingest_per_s",
    "ingest_webhook_per_s",
    "webhook_drain_s",
    "ceiling_receive_per_s",
    "ingest_ratio",
    "csv_rows_per_s",
    "csv_ceiling_rows_per_s",
    "csv_ratio",
    "csv_peak_rss_mb",
    "changelist_ms",
    "review_snapshot_ms",
}


def is_figure(figures, key) -> bool:
    """A number, or null with the reason it was not measured."""
    value = figures[key]
    if value is None:
        return isinstance(figures.get(f"{key}_why"), str) and bool(figures[f"{key}_why"])
    return isinstance(value, int | float) and value >= 0


@pytest.mark.timeout(900)  # a guard against a hang, not a speed limit
def test_a_small_run_measures_every_figure_on_scratch_databases(tmp_path, capsys):
    from streams.models import Insight

    out = tmp_path / "figures.json"
    call_command(
        "bench",
        *("--quick", "--events", "300", "--csv-rows", "500"),
        *("--live-seconds", "2", "--live-pages", "4", "--backlog", "400", "--decisions", "6"),
        *("--json", str(out)),
    )
    figures = json.loads(out.read_text())
    postgres = os.environ.get("DATABASE_URL", "").startswith("postgres")
    expected = SQLITE_KEYS | (POSTGRES_KEYS if postgres else set())
    assert expected <= set(figures), expected - set(figures)
    assert all(is_figure(figures, key) for key in expected), figures
    always = ALWAYS_MEASURED | ({k + "_pg" for k in ALWAYS_MEASURED} & POSTGRES_KEYS)
    assert all(figures[key] > 0 for key in always & expected), figures
    # With Chromium here (always in CI), the review page in the browser is measured too.
    if chromium_path():
        browser_keys = {
            key for key in expected if key.startswith("review_") and "snapshot" not in key
        }
        assert all(figures[key] is not None for key in browser_keys), figures
    assert (figures["events"], figures["csv_rows"]) == (300, 500)
    assert figures["ingest_ratio"] == round(
        figures["ingest_per_s"] / figures["ceiling_receive_per_s"], 3
    )
    # Every event reached the receiver, each signature verified (a failed one is unmeasured).
    assert figures["webhook_delivered"] == 300
    assert figures["webhook_drain_s"] * figures["ingest_webhook_per_s"] >= 300 * 0.99
    # What the pages got, when the window caught enough of the live stream to tell.
    if figures["commit_p50_ms"] is not None:
        assert 0 < figures["commit_p50_ms"] <= figures["commit_p99_ms"]
    if figures["live_p50_ms"] is not None:
        assert figures["live_p50_ms"] <= figures["live_p99_ms"]
        assert 0 < figures["live_delivered_ratio"] <= 1
    if figures["fanout_offered_per_s"] is not None:
        assert figures["fanout_offered_per_s"] == pytest.approx(figures["live_rate_per_s"] * 4)
    # The live rate follows the host: never above a quarter of what this run ingested.
    assert figures["live_offered_per_s"] <= max(1, figures["ingest_per_s"] * 0.25)
    assert figures["live_offered_how"]
    table = capsys.readouterr().out
    assert "ingest_per_s" in table and "csv_peak_rss_mb" in table
    assert Insight.objects.count() == 0  # the database in use was not touched


def test_the_live_rate_is_the_lower_of_2000_and_a_quarter_of_ingest():
    from perf.bench import live_rate

    assert live_rate(20_000)[0] == 2000
    assert live_rate(4_000) == (1000, "25% of the ingest figure")
    assert live_rate(None)[0] == 2000


def test_an_unmeasured_figure_is_printed_with_its_reason():
    from perf import bench

    figures = {
        "quick": True,
        "events": 10,
        "csv_rows": 10,
        "ingest_per_s": 1234.5,
        **bench.unmeasured(["live_p99_ms"], "no item reached a page in the 2 s window"),
    }
    table = bench.table(figures)
    (line,) = [line for line in table.splitlines() if line.startswith("live_p99_ms")]
    assert "not measured" in line
    assert "why: no item reached a page in the 2 s window" in table
    assert figures["live_p99_ms_why"] == "no item reached a page in the 2 s window"


def test_a_section_that_fails_leaves_its_figures_unmeasured_with_the_reason(monkeypatch):
    from perf import bench

    monkeypatch.setattr(bench, "MANAGE", bench.MANAGE.with_name("no-such-manage.py"))
    logged = []
    figures = bench._child(
        "live", "sqlite:///unused", "", bench.Plan(quick=True), log=logged.append
    )
    assert set(bench.SECTION_KEYS["live"]) <= set(figures)
    assert all(figures[key] is None for key in bench.SECTION_KEYS["live"])
    assert "exited with code" in figures["live_p99_ms_why"]
    assert logged and "not measured" in logged[0]


def test_figures_of_a_postgresql_section_keep_their_reasons_under_their_names():
    from perf import bench

    renamed = bench._renamed(
        {"csv_ratio": None, "csv_ratio_why": "x", "changelist_ms": 3.0},
        {"csv_ratio": "csv_ratio_pg", "changelist_ms": "changelist_ms_pg"},
    )
    assert renamed == {"csv_ratio_pg": None, "csv_ratio_pg_why": "x", "changelist_ms_pg": 3.0}
