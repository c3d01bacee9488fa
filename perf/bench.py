"""`manage.py bench`: assistgov's main work, measured against the machine's ceiling in the
same run. This module orchestrates; each section is a module of its own (perf.ingest,
perf.webhooks, perf.live, perf.browser, perf.csvpages, perf.idle, perf.scaled) over the
shared runner (perf.runner).

The parent process starts the simulator in a process of its own and runs each measurement
in a child `manage.py bench --section ...` whose DATABASE_URL points at a scratch database
(a temporary SQLite file, or a scratch PostgreSQL database next to the one DATABASE_URL
names), so the user's data is never touched and every figure comes from a fresh process.
Each section runs `--runs` times; the median is printed with the spread beside it.
"""

import asyncio
import os
import tempfile
from pathlib import Path

from perf import browser, csvpages, evidence, idle, ingest, live, scaled, webhooks
from perf.runner import (
    HOST_LOOP_STEPS,
    Plan,
    emit,
    host_speed,
    postgres_databases,
    postgres_url,
    ratios,
    renamed,
    section,
    simulator,
    spread_key,
    sqlite_files,
    unmeasured,
    why_key,
)

SECTION_KEYS = {
    "ingest": ingest.KEYS,
    "ingest_undetected": ingest.UNDETECTED_KEYS,
    "webhooks": webhooks.KEYS,
    "live": live.KEYS,
    "browser": browser.KEYS,
    "scaled": scaled.KEYS,
    "csv": csvpages.KEYS,
    "evidence": evidence.KEYS,
}


def run(plan: Plan, *, log) -> dict:
    """The embedded deployment's figures (the scaled one's with `plan.scaled`)."""
    figures: dict = {
        "quick": plan.quick,
        "events": plan.events,
        "csv_rows": plan.csv_rows,
        "runs": plan.runs,
        "deployment": "scaled" if plan.scaled else "embedded",
    }
    figures.update(host_speed())
    log(
        f"host: {HOST_LOOP_STEPS:,} Python steps in {figures['host_loop_s']} s, "
        f"load average {figures['host_load_1m']}; each section runs {plan.runs} time(s)"
    )
    postgres = postgres_url()
    with tempfile.TemporaryDirectory(prefix="assistgov-bench-") as scratch:
        if plan.scaled:
            return run_scaled(figures, plan, postgres, log=log)
        sqlite = sqlite_files(Path(scratch))
        pg = postgres_databases(postgres) if postgres else None
        with simulator(plan.events) as sim_url:
            log(f"simulator: generating {plan.events} insights")
            emit(sim_url, plan.events)
            figures.update(ingest.ceiling(sim_url, plan, log=log))
            log("ingest: one stream worker on SQLite (one text in ten with personal data)")
            figures.update(section("ingest", ingest.KEYS, sqlite, sim_url, plan, log=log))
            log("ingest without personal data detection (SQLite), for its cost")
            figures.update(
                section("ingest_undetected", ingest.UNDETECTED_KEYS, sqlite, sim_url, plan, log=log)
            )
            log("ingest with a webhook endpoint for insight.created (SQLite, local receiver)")
            figures.update(section("webhooks", webhooks.KEYS, sqlite, sim_url, plan, log=log))
            if pg:
                log("ingest: one stream worker on PostgreSQL")
                stored = section("ingest", ingest.KEYS, pg, sim_url, plan, log=log)
                figures.update(renamed(stored, {"ingest_per_s": "ingest_pg_per_s"}))
        ratios(figures, ("ingest_ratio", "ingest_per_s", "ceiling_receive_per_s"))
        ratios(figures, ("ingest_webhook_ratio", "ingest_webhook_per_s", "ingest_per_s"))
        ratios(figures, ("ingest_redacted_ratio", "ingest_per_s", "ingest_undetected_per_s"))
        rate, chosen = live.live_rate(figures["ingest_per_s"])
        figures.update(live_offered_per_s=rate, live_offered_how=chosen)
        log(
            f"live: {rate} insights/s ({chosen}) through `serve` to {plan.live_pages} review "
            "pages (SQLite)"
        )
        with simulator(0, rate=rate) as sim_url:
            figures.update(section("live", live.KEYS, sqlite, sim_url, plan, log=log))
        figures.update(live.max_live_rate(figures, sqlite, plan, log=log))
        log(
            f"browser: the review page in Chromium, {plan.backlog} pending, {rate} "
            f"insights/s live, {plan.decisions} decisions (SQLite)"
        )
        with simulator(0, rate=rate) as sim_url:
            figures.update(section("browser", browser.KEYS, sqlite, sim_url, plan, log=log))
            if pg:
                log("browser: the same on PostgreSQL")
                paged = section("browser", browser.KEYS, pg, sim_url, plan, log=log)
                figures.update(renamed(paged, {key: f"{key}_pg" for key in browser.KEYS}))
        log(f"CSV and pages: {plan.csv_rows} insights on SQLite")
        figures.update(section("csv", csvpages.KEYS, sqlite, "", plan, log=log))
        if pg:
            log(f"CSV and pages: {plan.csv_rows} insights on PostgreSQL")
            exported = section("csv", csvpages.KEYS, pg, "", plan, log=log)
            figures.update(renamed(exported, {key: f"{key}_pg" for key in csvpages.KEYS}))
        log(f"evidence pack: {plan.csv_rows} decisions on SQLite")
        figures.update(section("evidence", evidence.KEYS, sqlite, "", plan, log=log))
        log(
            f"demo_idle_cpu: `make demo`'s processes, nothing arriving, no page open, over "
            f"{plan.idle_seconds:g} s"
        )
        figures.update(idle.measure(Path(scratch), plan))
    return figures


def run_scaled(figures: dict, plan: Plan, postgres: str | None, *, log) -> dict:
    """`bench --scaled`: the ceiling and ingest on PostgreSQL (which set the live rate as
    in the embedded run), then the live section and a killed worker through the scaled
    deployment."""
    if not postgres or not os.environ.get("REDIS_URL"):
        why = "the scaled deployment needs DATABASE_URL on PostgreSQL and REDIS_URL"
        log(f"scaled: not measured: {why}")
        return {**figures, **unmeasured(scaled.KEYS, why)}
    pg = postgres_databases(postgres)
    with simulator(plan.events) as sim_url:
        log(f"simulator: generating {plan.events} insights")
        emit(sim_url, plan.events)
        figures.update(ingest.ceiling(sim_url, plan, log=log))
        log("ingest: one stream worker on PostgreSQL")
        stored = section("ingest", ingest.KEYS, pg, sim_url, plan, log=log)
        figures.update(renamed(stored, {"ingest_per_s": "ingest_pg_per_s"}))
    ratios(figures, ("ingest_pg_ratio", "ingest_pg_per_s", "ceiling_receive_per_s"))
    rate, chosen = live.live_rate(figures["ingest_pg_per_s"])
    figures.update(live_offered_per_s=rate, live_offered_how=chosen)
    log(
        f"scaled: {rate} insights/s ({chosen}) over {scaled.SCALED_STREAMS} streams through "
        f"{scaled.SCALED_WEB} daphne and {scaled.SCALED_WORKERS} runstreams processes to "
        f"{plan.live_pages} review pages, then a worker killed"
    )
    # The simulator sends each event to every stream; it keeps what a takeover replays.
    per_stream = rate / scaled.SCALED_STREAMS
    with simulator(0, rate=per_stream, keep_seconds=scaled.KEEP_SECONDS) as sim_url:
        figures.update(section("scaled", scaled.KEYS, pg, sim_url, plan, log=log, redis=True))
    return figures


def run_section(name: str, *, plan: Plan, sim_url: str) -> dict:
    """(A child process.) One section, on the scratch database DATABASE_URL names."""
    from django.core.management import call_command

    if name == "commits":  # beside `serve`, on its database
        return live.poll_commits()
    call_command("migrate", verbosity=0)
    if name == "ingest":
        return asyncio.run(ingest.measure(sim_url, plan.events))
    if name == "ingest_undetected":
        return asyncio.run(ingest.measure(sim_url, plan.events, detection=False))
    if name == "webhooks":
        return asyncio.run(webhooks.measure(sim_url, plan.events))
    if name == "csv":
        return csvpages.measure(plan.csv_rows)
    if name == "evidence":
        return evidence.measure(plan.csv_rows)
    if name == "live":
        return live.measure(sim_url, plan)
    if name == "browser":
        return browser.measure(sim_url, plan)
    if name == "scaled":
        return scaled.measure(sim_url, plan)
    raise ValueError(f"unknown section {name}")


# Output

TABLE = (
    ("ingest_per_s", "insights/s, simulator -> worker -> committed rows (SQLite)", ">= 10000"),
    ("ceiling_receive_per_s", "insights/s a bare websockets client receives", "ceiling"),
    ("ingest_ratio", "ingest / ceiling (the target: at 200,000 insights)", ">= 0.3"),
    ("ingest_pg_per_s", "the same on PostgreSQL", ">= 10000"),
    ("ingest_undetected_per_s", "the same without personal data detection", ""),
    ("ingest_redacted_ratio", "ingest with detection / without (1 text in 10 with some)", ">= 0.8"),
    ("ingest_webhook_per_s", "insights/s with an insight.created endpoint (SQLite)", ""),
    ("ingest_webhook_ratio", "ingest with the endpoint / without", ">= 0.8"),
    ("webhook_drain_s", "seconds until the receiver verified every event", ""),
    ("webhook_ingest_cores", "... cores the ingest worker used meanwhile", ""),
    ("webhook_sender_cores", "... cores runwebhooks (the dispatcher) used", ""),
    ("webhook_receiver_cores", "... cores the verifying receiver used", ""),
    ("host_loop_s", "the host: seconds for 10 million Python steps (lower: faster)", ""),
    ("host_load_1m", "the host: load average at the start", ""),
    ("live_offered_per_s", "insights/s offered live: 2,000, or 25% of ingest if lower", ""),
    ("live_rate_per_s", "insights/s the live section measured arriving", ""),
    ("commit_p50_ms", "simulator send -> row committed, median (ms)", ""),
    ("commit_p99_ms", "simulator send -> row committed, p99 (ms)", "<= 250"),
    ("live_p50_ms", "simulator send -> review page, median (ms)", ""),
    ("live_p99_ms", "simulator send -> review page, p99 (ms)", "<= 500"),
    ("live_delivered_ratio", "share of insights each timed page got", "1.0"),
    ("live_max_rate_per_s", "highest insights/s the pages keep up with (p99 <= 500 ms)", ""),
    ("live_max_rate_ratio", "... as a share of the receive ceiling", ""),
    ("fanout_msgs_per_s", "item updates/s delivered to the pages together", ""),
    ("fanout_offered_per_s", "... of the updates/s that were due", ""),
    ("csv_rows_per_s", "export_csv insights, rows/s after its start (SQLite)", ""),
    ("csv_startup_s", "... its start: an empty export_csv (s)", ""),
    ("csv_ceiling_rows_per_s", "sqlite3 -csv over the same rows", "ceiling"),
    ("csv_ratio", "export / ceiling", ">= 0.25"),
    ("csv_peak_rss_mb", "export_csv peak RSS (MB)", "<= 150"),
    ("changelist_ms", "admin insight changelist (ms)", "<= 300"),
    ("review_snapshot_ms", "review queue snapshot (ms)", "<= 300"),
    (
        "search_ms",
        "review search, best match first, slowest of four (ms)",
        "<= 300",
    ),
    ("review_first_page_ms", "review page in Chromium: sign-in to first rows (ms)", "<= 600"),
    ("review_first_page_sign_in_ms", "... of which the sign-in (password check included)", ""),
    ("review_first_page_html_ms", "... the review page's HTML, first rows in it", ""),
    ("review_first_page_script_ms", "... the page's script, to the rows' frame", ""),
    ("review_first_page_wall_ms", "... as Playwright saw it (its own delays included)", ""),
    ("review_page_next_ms", "review page: next page on screen (ms)", "<= 300"),
    ("review_key_p95_ms", "review page: key press to confirmed decision, p95 (ms)", "<= 150"),
    ("review_main_thread_busy", "review page: main thread busy share, live", "<= 0.2"),
    ("csv_rows_per_s_pg", "export_csv insights, rows/s after its start (PostgreSQL)", ""),
    ("csv_ceiling_rows_per_s_pg", "COPY ... TO STDOUT CSV of the plain columns", "ceiling"),
    ("csv_ratio_pg", "export / ceiling (PostgreSQL)", ">= 0.5"),
    ("csv_peak_rss_mb_pg", "export_csv peak RSS (MB, PostgreSQL)", "<= 150"),
    ("changelist_ms_pg", "admin insight changelist (ms, PostgreSQL)", "<= 300"),
    ("review_snapshot_ms_pg", "review queue snapshot (ms, PostgreSQL)", "<= 300"),
    ("search_ms_pg", "review search, slowest of four (ms, PostgreSQL)", "<= 300"),
    ("review_first_page_ms_pg", "review page: sign-in to first rows (ms, PostgreSQL)", "<= 600"),
    ("review_first_page_sign_in_ms_pg", "... of which the sign-in (PostgreSQL)", ""),
    ("review_first_page_html_ms_pg", "... the review page's HTML (PostgreSQL)", ""),
    ("review_first_page_script_ms_pg", "... the page's script (PostgreSQL)", ""),
    ("review_page_next_ms_pg", "review page: next page (ms, PostgreSQL)", "<= 300"),
    ("review_key_p95_ms_pg", "review page: key to confirmed, p95 (ms, PostgreSQL)", "<= 150"),
    ("review_main_thread_busy_pg", "review page: main thread busy (PostgreSQL)", "<= 0.2"),
    ("evidence_s", "manage.py evidence over the decisions (s; 1,000,000: <= 300)", ""),
    ("evidence_peak_rss_mb", "manage.py evidence peak RSS (MB)", "<= 200"),
    ("demo_idle_cpu", "make demo, nothing arriving, no page open: share of a core", "<= 0.03"),
    ("demo_idle_wakeups_per_s", "make demo, nothing arriving: times woken per second", ""),
    ("ingest_pg_ratio", "ingest on PostgreSQL / ceiling", ""),
    ("scaled_rate_per_s", "scaled: insights/s measured arriving (4 streams)", ""),
    ("scaled_commit_p50_ms", "scaled: send -> row committed, median (ms)", ""),
    ("scaled_commit_p99_ms", "scaled: send -> row committed, p99 (ms)", "<= 250"),
    ("scaled_live_p50_ms", "scaled: send -> review page, median (ms)", ""),
    ("scaled_live_p99_ms", "scaled: send -> review page, p99 (ms)", "<= 500"),
    ("scaled_delivered_ratio", "scaled: share of insights each timed page got", "1.0"),
    ("failover_s", "scaled: SIGKILL -> first event stored by the other worker (s)", ""),
    ("failover_lease_s", "scaled: ... with this lease (STREAMS_LEASE_SECONDS)", ""),
    ("failover_lost", "scaled: events lost across the kill", "0"),
    ("failover_stored_twice", "scaled: events stored twice across the kill", "0"),
)


def table(figures: dict) -> str:
    lines = [f"{'key':<27} {'median':>12} {'spread':>21}  {'target':<9} what", "-" * 120]
    for key, what, target in TABLE:
        if key not in figures:
            continue
        if figures[key] is None:
            lines.append(f"{key:<27} {'not measured':>12} {'':>21}  {target:<9} {what}")
            why = figures.get(why_key(key), "?")
            lines.append(f"{'':<27} {'':>12} {'':>21}  {'':<9} why: {why}")
        else:
            low, high = figures.get(spread_key(key)) or ("", "")
            spread = f"{low} - {high}" if low != "" else ""
            lines.append(f"{key:<27} {figures[key]:>12} {spread:>21}  {target:<9} {what}")
    if "live_offered_how" in figures:
        lines.append(f"(live rate: {figures['live_offered_how']})")
    exported = f", {figures['csv_rows']} rows exported" if "csv_rows_per_s" in figures else ""
    lines.append(
        f"({figures.get('deployment', 'embedded')} deployment; {figures['events']} insights "
        f"ingested{exported}; {figures.get('runs', 1)} run(s) per section"
        f"{', quick' if figures['quick'] else ''}; host: {figures.get('host_loop_s')} s for "
        f"the Python loop, load average {figures.get('host_load_1m')})"
    )
    return "\n".join(lines)
