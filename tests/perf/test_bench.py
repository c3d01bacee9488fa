"""`manage.py bench` runs end to end and reports every figure it promises.

Speed itself is not asserted here (shared machines are noisy): the benchmark prints it.
"""

import contextlib
import json
import os

import pytest
from django.core.management import call_command

from tests.conftest import chromium_path, need

pytestmark = pytest.mark.django_db

SQLITE_KEYS = {
    "ingest_undetected_per_s",
    "ingest_redacted_ratio",
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
    "webhook_ingest_cores",
    "webhook_sender_cores",
    "webhook_receiver_cores",
    "live_rate_per_s",
    "commit_p50_ms",
    "commit_p99_ms",
    "live_p50_ms",
    "live_p99_ms",
    "live_delivered_ratio",
    "fanout_msgs_per_s",
    "fanout_offered_per_s",
    "csv_rows_per_s",
    "csv_startup_s",
    "csv_ceiling_rows_per_s",
    "csv_ratio",
    "csv_peak_rss_mb",
    "changelist_ms",
    "review_snapshot_ms",
    "review_first_page_ms",
    "review_first_page_sign_in_ms",
    "review_first_page_html_ms",
    "review_first_page_script_ms",
    "review_first_page_wall_ms",
    "review_page_next_ms",
    "review_key_p95_ms",
    "review_main_thread_busy",
    "live_max_rate_per_s",
    "live_max_rate_ratio",
    "demo_idle_cpu",
    "demo_idle_wakeups_per_s",
    "evidence_s",
    "evidence_peak_rss_mb",
}
POSTGRES_KEYS = {
    "ingest_pg_per_s",
    "csv_rows_per_s_pg",
    "csv_startup_s_pg",
    "csv_ceiling_rows_per_s_pg",
    "csv_ratio_pg",
    "csv_peak_rss_mb_pg",
    "changelist_ms_pg",
    "review_snapshot_ms_pg",
    "review_first_page_ms_pg",
    "review_first_page_sign_in_ms_pg",
    "review_first_page_html_ms_pg",
    "review_first_page_script_ms_pg",
    "review_first_page_wall_ms_pg",
    "review_page_next_ms_pg",
    "review_key_p95_ms_pg",
    "review_main_thread_busy_pg",
}


# Figures that do not depend on a timed window: a run that finishes always has them.
ALWAYS_MEASURED = {
    "ingest_per_s",
    "evidence_s",
    "evidence_peak_rss_mb",
    "ingest_undetected_per_s",
    "ingest_redacted_ratio",
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
        *("--runs", "1", "--rate-steps", "1", "--idle-seconds", "2"),
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
    # What personal data detection costs, over the same events (one in ten carries some).
    assert figures["ingest_redacted_ratio"] == round(
        figures["ingest_per_s"] / figures["ingest_undetected_per_s"], 3
    )
    # Every event reached the receiver, each signature verified (a failed one is unmeasured).
    assert figures["webhook_delivered"] == 300
    assert figures["webhook_drain_s"] * figures["ingest_webhook_per_s"] >= 300 * 0.99
    # What each process took of the host: none more than its cores, and together some work
    # (a small run can leave one of them under a thousandth of a core).
    cores = [figures[f"webhook_{name}_cores"] for name in ("ingest", "sender", "receiver")]
    assert all(0 <= value <= os.cpu_count() for value in cores) and sum(cores) > 0
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
    # One step from the offered rate: double it if the pages kept up, else halve it.
    if figures["live_max_rate_per_s"] is not None:
        assert figures["live_max_rate_per_s"] in (
            figures["live_offered_per_s"],
            figures["live_offered_per_s"] * 2,
            figures["live_offered_per_s"] // 2,
        )
    # The idle demo stored insights (else it is unmeasured) and woke to do it.
    assert figures["demo_idle_cpu"] > 0 and figures["demo_idle_wakeups_per_s"] > 0
    assert (figures["runs"], figures["deployment"]) == (1, "embedded")
    table = capsys.readouterr().out
    assert "ingest_per_s" in table and "csv_peak_rss_mb" in table
    assert Insight.objects.count() == 0  # the database in use was not touched


def test_the_live_rate_is_the_lower_of_2000_and_a_quarter_of_ingest():
    from perf.live import live_rate

    assert live_rate(20_000)[0] == 2000
    assert live_rate(4_000) == (1000, "25% of the ingest figure")
    assert live_rate(None)[0] == 2000


def test_an_unmeasured_figure_is_printed_with_its_reason():
    from perf import bench, runner

    figures = {
        "quick": True,
        "events": 10,
        "csv_rows": 10,
        "ingest_per_s": 1234.5,
        **runner.unmeasured(["live_p99_ms"], "no item reached a page in the 2 s window"),
    }
    table = bench.table(figures)
    (line,) = [line for line in table.splitlines() if line.startswith("live_p99_ms")]
    assert "not measured" in line
    assert "why: no item reached a page in the 2 s window" in table
    assert figures["live_p99_ms_why"] == "no item reached a page in the 2 s window"


def test_a_section_that_fails_leaves_its_figures_unmeasured_with_the_reason(monkeypatch):
    from perf import bench, live, runner

    monkeypatch.setattr(runner, "MANAGE", runner.MANAGE.with_name("no-such-manage.py"))
    logged = []
    figures = runner.child(
        "live", live.KEYS, "sqlite:///unused", "", runner.Plan(quick=True), log=logged.append
    )
    assert set(bench.SECTION_KEYS["live"]) <= set(figures)
    assert all(figures[key] is None for key in bench.SECTION_KEYS["live"])
    assert "exited with code" in figures["live_p99_ms_why"]
    assert logged and "not measured" in logged[0]


def test_figures_of_a_postgresql_section_keep_their_reasons_under_their_names():
    from perf import runner

    renamed = runner.renamed(
        {"csv_ratio": None, "csv_ratio_why": "x", "changelist_ms": 3.0},
        {"csv_ratio": "csv_ratio_pg", "changelist_ms": "changelist_ms_pg"},
    )
    assert renamed == {"csv_ratio_pg": None, "csv_ratio_pg_why": "x", "changelist_ms_pg": 3.0}


def test_each_figure_is_the_median_of_the_runs_with_the_spread_beside_it():
    from perf import bench, runner

    runs = [
        {"ingest_per_s": 900.0, "live_p99_ms": None, "live_p99_ms_why": "window too short"},
        {"ingest_per_s": 1200.0, "live_p99_ms": 300.0},
        {"ingest_per_s": 1000.0, "live_p99_ms": 420.0},
    ]
    figures = runner.merged(runs, ("ingest_per_s", "live_p99_ms", "csv_ratio"))
    assert figures["ingest_per_s"] == 1000.0
    assert figures["ingest_per_s_spread"] == [900.0, 1200.0]
    assert figures["live_p99_ms"] == 360.0  # of the two runs that measured it
    assert figures["live_p99_ms_why"] == "measured in 2 of 3 runs"
    assert figures["csv_ratio"] is None and figures["csv_ratio_why"] == "no run measured it"
    table = bench.table({"quick": True, "events": 1, "csv_rows": 1, **figures})
    (line,) = [line for line in table.splitlines() if line.startswith("ingest_per_s")]
    assert "1000.0" in line and "900.0 - 1200.0" in line
    renamed = runner.renamed(figures, {"ingest_per_s": "ingest_pg_per_s"})
    assert renamed["ingest_pg_per_s_spread"] == [900.0, 1200.0]


@pytest.mark.parametrize(
    ("offered", "limit", "steps", "found"),
    [
        (200, 1000, 4, 800),  # doubled while the pages kept up, then halved the gap
        (200, 700, 4, 700),  # 400 kept up, 800 not, then 600 and 700 did
        (1000, 300, 3, 250),  # halved until they kept up
        (1000, 50, 2, None),  # never kept up: unmeasured, with the lowest rate tried
    ],
)
def test_the_highest_rate_the_pages_keep_up_with_is_found_by_stepping(
    monkeypatch, offered, limit, steps, found
):
    """A fake live section whose pages keep up to `limit` insights/s."""
    from perf import live, runner

    tried = []

    @contextlib.contextmanager
    def simulator(events, *, rate):
        tried.append(rate)
        yield f"sim-at-{rate}"

    def section(name, keys, database, sim_url, plan, *, log, runs=None):
        rate = int(sim_url.removeprefix("sim-at-"))
        return {"live_p99_ms": 100.0 if rate <= limit else 900.0, "live_delivered_ratio": 1.0}

    monkeypatch.setattr(live, "simulator", simulator)
    monkeypatch.setattr(live, "section", section)
    first = section("live", live.KEYS, None, f"sim-at-{offered}", None, log=None)
    figures = {"live_offered_per_s": offered, "ceiling_receive_per_s": 10_000.0, **first}
    plan = runner.Plan(quick=True, rate_steps=steps)
    result = live.max_live_rate(figures, None, plan, log=lambda text: None)
    assert len(tried) <= steps
    assert result["live_max_rate_per_s"] == found
    if found is None:
        assert str(min(tried)) in result["live_max_rate_per_s_why"]
    else:
        assert found <= limit and result["live_max_rate_ratio"] == round(found / 10_000, 3)


@pytest.mark.scaled
@pytest.mark.timeout(900)  # a guard against a hang, not a speed limit
def test_the_scaled_deployment_is_measured_and_a_killed_worker_loses_nothing(tmp_path, monkeypatch):
    """`bench --scaled` on the scaled pass's PostgreSQL and Redis: 2 daphne and 2
    runstreams processes, 4 streams, a worker killed (short leases, for a short test)."""
    from django.conf import settings

    from perf import scaled

    need(
        os.environ.get("DATABASE_URL", "").startswith("postgres") and bool(settings.REDIS_URL),
        "needs PostgreSQL and Redis: run `python -m tests.run_scaled` (make test does)",
    )
    monkeypatch.setenv("STREAMS_LEASE_SECONDS", "2")
    monkeypatch.setenv("STREAMS_RECONCILE_SECONDS", "0.3")
    out = tmp_path / "figures.json"
    call_command(
        "bench",
        *("--scaled", "--quick", "--events", "300", "--runs", "1"),
        *("--live-seconds", "2", "--live-pages", "4", "--json", str(out)),
    )
    figures = json.loads(out.read_text())
    assert set(scaled.KEYS) <= set(figures)
    assert all(is_figure(figures, key) for key in scaled.KEYS), figures
    assert figures["deployment"] == "scaled"
    assert (figures["failover_lost"], figures["failover_stored_twice"]) == (0, 0), figures
    assert figures["failover_lease_s"] == 2.0
    assert figures["failover_s"] > 0, figures
    if figures["scaled_live_p99_ms"] is not None:
        assert 0 < figures["scaled_delivered_ratio"] <= 1


async def test_a_review_socket_that_fails_before_its_first_page_says_why():
    """Not a wait to the end of the bound and a count: the socket's own error."""
    import asyncio

    from perf import live, runner

    ready = [asyncio.Event(), asyncio.Event()]

    async def refused():
        raise ConnectionRefusedError("the server refused the handshake")

    async def fine():
        ready[1].set()
        await asyncio.Event().wait()

    tasks = [asyncio.create_task(refused()), asyncio.create_task(fine())]
    with pytest.raises(runner.Unmeasured, match="refused the handshake"):
        await live.pages_ready(tasks, ready, within=600)
    tasks[1].cancel()


def test_the_scaled_section_reports_each_live_figure_and_its_reason_under_its_own_name():
    from perf import runner, scaled

    live = {
        "live_rate_per_s": 2000.0,
        "commit_p50_ms": 70.0,
        "fanout_msgs_per_s": 1.0,  # not a figure of the scaled section
        **runner.unmeasured(["live_delivered_ratio"], "nothing was sent in the window"),
    }
    named = scaled.scaled_names(live)
    assert named == {
        "scaled_rate_per_s": 2000.0,
        "scaled_commit_p50_ms": 70.0,
        "scaled_delivered_ratio": None,
        "scaled_delivered_ratio_why": "nothing was sent in the window",
    }
    assert set(named) - {key + "_why" for key in scaled.KEYS} <= set(scaled.KEYS)
