"""`manage.py bench`: assistgov's main work, measured against the machine's ceiling in the
same run (ISSUE 7's keys).

The parent process starts the simulator in a process of its own and runs each measurement
in a child `manage.py bench --section ...` whose DATABASE_URL points at a scratch database
(a temporary SQLite file, or a scratch PostgreSQL database next to the one DATABASE_URL
names), so the user's data is never touched and every figure comes from a fresh process.

Figures measured here:
- ingest: insights/s from the simulator through one stream worker to committed rows,
  against a bare websockets client receiving and JSON-decoding the same events;
- host: a fixed Python loop's seconds and the load average at the start, so a slow host can
  be told from a slow change;
- live: at 2,000 insights/s or a quarter of the ingest figure, whichever is lower (a fixed
  rate would measure the host), `manage.py serve` (daphne and the stream worker in one
  process, the embedded deployment) with 100 logged-in review-page WebSockets open: the
  time from the simulator's send to the committed row and to the pages, and the updates/s
  the pages receive together;
- CSV: `export_csv insights` (a process of its own: rows/s and its peak RSS) against the
  sqlite3 command line's CSV mode, or PostgreSQL's `COPY ... TO STDOUT CSV`;
- the admin insight changelist and the review queue snapshot over the same rows.
"""

import asyncio
import base64
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
from cryptography.fernet import Fernet

from perf import browser, scaled

SIM_CLIENT = ("assistgov-demo", "assistgov-demo-secret")
RUN_ID = "bench"
LIVE_RATE = 2000  # insights/s offered during the live section, at most
# ... and at most this share of the ingest rate measured in the same run: a fixed rate would
# make the live figures a measure of the host (a slow one cannot keep up with 2,000/s).
LIVE_SHARE_OF_INGEST = 0.25
HOST_LOOP_STEPS = 10_000_000  # the host's speed: seconds for this many steps of Python
LIVE_PAGES = 100  # review-page sockets open during it
LIVE_SAMPLED = 10  # pages whose every update is timed (the others are counted)
LIVE_WARM_UP = 3.0  # seconds before the live section starts measuring
LIVE_GRACE = 2.0  # seconds after it for what was sent in time to arrive
# Readiness waits grow with what is asked: a slow host takes longer to log in many pages.
READY_BASE_SECONDS = 60.0
READY_SECONDS_PER_PAGE = 1.0
START_SECONDS = 120.0  # a process of ours starting and answering its health check
WEBHOOK_BENCH_BATCH = 100  # events per POST to the webhooks section's receiver
RUNS = 3  # each section runs this many times; the median is printed, the spread beside it
RATE_STEPS = 4  # live runs that look for the highest rate the pages keep up with
PAGE_P99_LIMIT_MS = 500.0  # ... keeping up: page p99 at or under this, every update delivered
IDLE_SECONDS = 60.0  # the window of demo_idle_cpu
MANAGE = Path(__file__).resolve().parent.parent / "manage.py"


@dataclass(frozen=True)
class Plan:
    quick: bool
    events_override: int | None = None
    csv_rows_override: int | None = None
    live_seconds_override: float | None = None
    live_pages_override: int | None = None
    backlog_override: int | None = None
    decisions_override: int | None = None
    # Only the parent reads these: a child runs one section once.
    runs: int = RUNS
    rate_steps: int = RATE_STEPS
    idle_seconds: float = IDLE_SECONDS
    scaled: bool = False

    @property
    def events(self) -> int:
        return self.events_override or (20_000 if self.quick else 200_000)

    @property
    def csv_rows(self) -> int:
        return self.csv_rows_override or (100_000 if self.quick else 1_000_000)

    @property
    def live_seconds(self) -> float:
        """How long the live section measures, after its warm-up."""
        return self.live_seconds_override or (6.0 if self.quick else 20.0)

    @property
    def live_pages(self) -> int:
        """Review pages open during the live section."""
        return self.live_pages_override or LIVE_PAGES

    @property
    def backlog(self) -> int:
        """Pending items behind the review page in the browser section."""
        return self.backlog_override or 50_000

    @property
    def decisions(self) -> int:
        """Approvals made from the keyboard in the browser section."""
        return self.decisions_override or 200

    @property
    def live_sampled(self) -> int:
        """Pages whose every update is timed."""
        return min(LIVE_SAMPLED, self.live_pages)

    def options(self) -> list[str]:
        """The same plan, for a child's command line."""
        options = ["--quick"] if self.quick else []
        if self.events_override:
            options += ["--events", str(self.events_override)]
        if self.csv_rows_override:
            options += ["--csv-rows", str(self.csv_rows_override)]
        if self.live_seconds_override:
            options += ["--live-seconds", str(self.live_seconds_override)]
        if self.live_pages_override:
            options += ["--live-pages", str(self.live_pages_override)]
        if self.backlog_override:
            options += ["--backlog", str(self.backlog_override)]
        if self.decisions_override:
            options += ["--decisions", str(self.decisions_override)]
        return options


# Figures that could not be measured are null, with the reason beside them: a missing
# figure is a failure of that figure, not of the command.

SECTION_KEYS = {
    "ingest": ("ingest_per_s",),
    "webhooks": ("ingest_webhook_per_s", "webhook_drain_s", "webhook_delivered"),
    "live": (
        "live_rate_per_s",
        "commit_p50_ms",
        "commit_p99_ms",
        "live_p50_ms",
        "live_p99_ms",
        "live_delivered_ratio",
        "fanout_msgs_per_s",
        "fanout_offered_per_s",
    ),
    "browser": browser.KEYS,
    "scaled": scaled.KEYS,
    "csv": (
        "csv_rows_per_s",
        "csv_peak_rss_mb",
        "csv_ceiling_rows_per_s",
        "csv_ratio",
        "changelist_ms",
        "review_snapshot_ms",
    ),
}


class Unmeasured(Exception):
    """A section could not measure what it is for; the message says why, in words."""


def why_key(key: str) -> str:
    return f"{key}_why"


def unmeasured(keys, why: str) -> dict:
    figures = {}
    for key in keys:
        figures[key] = None
        figures[why_key(key)] = why
    return figures


def measured(key: str, value, why: str) -> dict:
    """`{key: value}`, or the key unmeasured with `why` when there is no value."""
    return {key: value} if value is not None else unmeasured([key], why)


# The parent: orchestration


def host_speed() -> dict:
    """How fast the host is now, so a reader can tell a slow host from a slow change: a fixed
    Python loop's seconds and the load average when the run started."""
    started = time.perf_counter()
    total = 0
    for step in range(HOST_LOOP_STEPS):
        total += step
    loop = time.perf_counter() - started
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    return {
        "host_loop_s": round(loop, 3),
        "host_cpus": os.cpu_count(),
        **measured("host_load_1m", load, "this platform has no load average"),
    }


def live_rate(ingest_per_s: float | None) -> tuple[int, str]:
    """The live section's rate: LIVE_RATE, or a share of the ingest figure when lower."""
    if ingest_per_s is None:
        return LIVE_RATE, f"{LIVE_RATE}/s (ingest was not measured)"
    share = int(ingest_per_s * LIVE_SHARE_OF_INGEST)
    if share < LIVE_RATE:
        return max(share, 1), f"{LIVE_SHARE_OF_INGEST:.0%} of the ingest figure"
    return LIVE_RATE, f"{LIVE_RATE}/s (below {LIVE_SHARE_OF_INGEST:.0%} of the ingest figure)"


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
    postgres = _postgres_url()
    with tempfile.TemporaryDirectory(prefix="assistgov-bench-") as scratch:
        if plan.scaled:
            return _run_scaled(figures, plan, postgres, log=log)
        sqlite = _sqlite_files(Path(scratch))
        with simulator(plan.events) as sim_url:
            log(f"simulator: generating {plan.events} insights")
            _emit(sim_url, plan.events)
            figures.update(_ceiling(sim_url, plan, log=log))
            log("ingest: one stream worker on SQLite")
            figures.update(_section("ingest", sqlite, sim_url, plan, log=log))
            log("ingest with a webhook endpoint for insight.created (SQLite, local receiver)")
            figures.update(_section("webhooks", sqlite, sim_url, plan, log=log))
            if postgres:
                log("ingest: one stream worker on PostgreSQL")
                ingest = _section("ingest", _postgres(postgres), sim_url, plan, log=log)
                figures.update(_renamed(ingest, {"ingest_per_s": "ingest_pg_per_s"}))
        _ratios(figures, ("ingest_ratio", "ingest_per_s", "ceiling_receive_per_s"))
        _ratios(figures, ("ingest_webhook_ratio", "ingest_webhook_per_s", "ingest_per_s"))
        rate, chosen = live_rate(figures["ingest_per_s"])
        figures.update(live_offered_per_s=rate, live_offered_how=chosen)
        log(
            f"live: {rate} insights/s ({chosen}) through `serve` to {plan.live_pages} review "
            "pages (SQLite)"
        )
        with simulator(0, rate=rate) as sim_url:
            figures.update(_section("live", sqlite, sim_url, plan, log=log))
        figures.update(_max_live_rate(figures, sqlite, plan, log=log))
        log(
            f"browser: the review page in Chromium, {plan.backlog} pending, {rate} "
            f"insights/s live, {plan.decisions} decisions (SQLite)"
        )
        with simulator(0, rate=rate) as sim_url:
            figures.update(_section("browser", sqlite, sim_url, plan, log=log))
            if postgres:
                log("browser: the same on PostgreSQL")
                pg = _section("browser", _postgres(postgres), sim_url, plan, log=log)
                figures.update(_renamed(pg, {key: f"{key}_pg" for key in browser.KEYS}))
        log(f"CSV and pages: {plan.csv_rows} insights on SQLite")
        figures.update(_section("csv", sqlite, "", plan, log=log))
        if postgres:
            log(f"CSV and pages: {plan.csv_rows} insights on PostgreSQL")
            csv_pg = _section("csv", _postgres(postgres), "", plan, log=log)
            figures.update(_renamed(csv_pg, {key: f"{key}_pg" for key in SECTION_KEYS["csv"]}))
        log(f"demo_idle_cpu: `make demo`'s processes, no page open, over {plan.idle_seconds:g} s")
        figures.update(_idle(Path(scratch), plan))
    return figures


def _run_scaled(figures: dict, plan: Plan, postgres: str | None, *, log) -> dict:
    """`bench --scaled`: the ceiling and ingest on PostgreSQL (which set the live rate as
    in the embedded run), then the live section and a killed worker through the scaled
    deployment."""
    if not postgres or not os.environ.get("REDIS_URL"):
        why = "the scaled deployment needs DATABASE_URL on PostgreSQL and REDIS_URL"
        log(f"scaled: not measured: {why}")
        return {**figures, **unmeasured(SECTION_KEYS["scaled"], why)}
    with simulator(plan.events) as sim_url:
        log(f"simulator: generating {plan.events} insights")
        _emit(sim_url, plan.events)
        figures.update(_ceiling(sim_url, plan, log=log))
        log("ingest: one stream worker on PostgreSQL")
        ingest = _section("ingest", _postgres(postgres), sim_url, plan, log=log)
        figures.update(_renamed(ingest, {"ingest_per_s": "ingest_pg_per_s"}))
    _ratios(figures, ("ingest_pg_ratio", "ingest_pg_per_s", "ceiling_receive_per_s"))
    rate, chosen = live_rate(figures["ingest_pg_per_s"])
    figures.update(live_offered_per_s=rate, live_offered_how=chosen)
    log(
        f"scaled: {rate} insights/s ({chosen}) over {scaled.SCALED_STREAMS} streams through "
        f"{scaled.SCALED_WEB} daphne and {scaled.SCALED_WORKERS} runstreams processes to "
        f"{plan.live_pages} review pages, then a worker killed"
    )
    # The simulator sends each event to every stream; it keeps what a takeover replays.
    per_stream = rate / scaled.SCALED_STREAMS
    with simulator(0, rate=per_stream, keep_seconds=scaled.KEEP_SECONDS) as sim_url:
        figures.update(_section("scaled", _postgres(postgres), sim_url, plan, log=log, redis=True))
    return figures


def _ceiling(sim_url: str, plan: Plan, *, log) -> dict:
    log("ceiling: a bare websockets client receiving them")
    runs = [
        {"ceiling_receive_per_s": asyncio.run(receive_ceiling(sim_url, plan.events))}
        for _ in range(plan.runs)
    ]
    return merged(runs, ("ceiling_receive_per_s",))


def _ratios(figures: dict, *triples) -> None:
    for key, part, whole in triples:
        figures.update(
            measured(
                key,
                _ratio(figures.get(part), figures.get(whole)),
                f"{part} or {whole} was not measured",
            )
        )


def _sqlite_files(folder: Path):
    """Scratch SQLite databases in `folder`, a new file each time."""
    count = iter(range(1, 1_000_000))

    @contextlib.contextmanager
    def new():
        yield f"sqlite:///{folder / f'bench-{next(count)}.sqlite3'}"

    return new


def _postgres(url: str):
    return lambda: scratch_database(url)


def _section(section: str, database, sim_url: str, plan: Plan, *, log, runs=None, redis=False):
    """`section` run `runs` (the plan's) times, each in a fresh process on a fresh database
    from `database()`: the median of each figure, with the spread beside it."""
    runs = runs or plan.runs
    results = []
    for n in range(1, runs + 1):
        if runs > 1:
            log(f"{section}: run {n} of {runs}")
        with database() as url:
            results.append(_child(section, url, sim_url, plan, log=log, redis=redis))
    return merged(results, SECTION_KEYS[section])


def merged(runs: list[dict], keys) -> dict:
    """The median of each figure over the runs that measured it, its spread ([lowest,
    highest]) beside it under `<key>_spread`; unmeasured, with a run's reason, if none did."""
    out = {}
    for key in keys:
        values = [run[key] for run in runs if isinstance(run.get(key), int | float)]
        if not values:
            why = next((run[why_key(key)] for run in runs if run.get(why_key(key))), None)
            out.update(unmeasured([key], why or "no run measured it"))
            continue
        median = statistics.median(values)
        out[key] = median if isinstance(median, int) else round(median, 3)
        if len(runs) > 1:
            out[spread_key(key)] = [min(values), max(values)]
            if len(values) < len(runs):
                out[why_key(key)] = f"measured in {len(values)} of {len(runs)} runs"
    return out


def spread_key(key: str) -> str:
    return f"{key}_spread"


def _max_live_rate(figures: dict, sqlite, plan: Plan, *, log) -> dict:
    """The highest rate at which the review pages keep up (page p99 <= PAGE_P99_LIMIT_MS
    and every update delivered), found by doubling from the offered rate (or halving, if it
    did not keep up) and then halving the interval, one live run per step; and that rate
    as a share of the receive ceiling."""
    keys = ("live_max_rate_per_s", "live_max_rate_ratio")
    if plan.rate_steps <= 0:
        return unmeasured(keys, "skipped (--rate-steps 0)")
    ceiling = figures.get("ceiling_receive_per_s")
    good, bad = None, None
    if _keeps_up(figures):
        good = figures["live_offered_per_s"]
    else:
        bad = figures["live_offered_per_s"]
    for _ in range(plan.rate_steps):
        if bad is None:
            rate = good * 2
        elif good is None:
            rate = bad // 2
        else:
            rate = (good + bad) // 2
        if ceiling:
            rate = min(rate, int(ceiling))
        if rate < 1 or rate in (good, bad):
            break
        log(f"live: stepping, {rate} insights/s")
        with simulator(0, rate=rate) as sim_url:
            step = _section("live", sqlite, sim_url, plan, log=log, runs=1)
        if _keeps_up(step):
            good = rate
        else:
            bad = rate
    if good is None:
        why = f"the pages did not keep up even at {bad} insights/s"
        return unmeasured(keys, why)
    return {
        "live_max_rate_per_s": good,
        **measured("live_max_rate_ratio", _ratio(good, ceiling), "no receive ceiling"),
    }


def _keeps_up(live: dict) -> bool:
    p99, delivered = live.get("live_p99_ms"), live.get("live_delivered_ratio")
    return p99 is not None and p99 <= PAGE_P99_LIMIT_MS and (delivered or 0) >= 0.99


IDLE_KEYS = ("demo_idle_cpu", "demo_idle_wakeups_per_s")


def _idle(scratch: Path, plan: Plan) -> dict:
    """What `make demo` costs left alone: its steps on a scratch database, then, once its
    stream stores insights, the share of a core the process used over `plan.idle_seconds`
    (its CPU time) and how often it was woken (voluntary context switches)."""
    import sqlite3

    import psutil

    db = scratch / "demo.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "ALLOWED_HOSTS": "127.0.0.1"}
    env.pop("REDIS_URL", None)
    port, sim_port = _free_port(), _free_port()
    manage = [sys.executable, str(MANAGE)]
    # --force: demo_setup refuses a database with DEBUG off; this one is a scratch file.
    for step in (
        ["migrate", "--noinput"],
        ["demo_setup", "--force", "--simulator-url", f"http://127.0.0.1:{sim_port}"],
    ):
        done = subprocess.run([*manage, *step], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            why = f"`manage.py {step[0]}` failed with exit code {done.returncode}: {last}"
            return unmeasured(IDLE_KEYS, why)
    server = subprocess.Popen(
        [*manage, "serve", "--port", str(port), "--simulator-port", str(sim_port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", server, "the demo")
        deadline = time.monotonic() + START_SECONDS
        with contextlib.closing(sqlite3.connect(db, timeout=30)) as reader:
            while not reader.execute("SELECT count(*) FROM streams_insight").fetchone()[0]:
                if time.monotonic() > deadline:
                    why = f"the demo stored no insight within {START_SECONDS:.0f} s"
                    return unmeasured(IDLE_KEYS, why)
                time.sleep(0.5)
        process = psutil.Process(server.pid)
        cpu, switches = sum(process.cpu_times()[:2]), process.num_ctx_switches().voluntary
        time.sleep(plan.idle_seconds)
        cpu = sum(process.cpu_times()[:2]) - cpu
        switches = process.num_ctx_switches().voluntary - switches
    except Unmeasured as exc:
        return unmeasured(IDLE_KEYS, str(exc))
    finally:
        server.terminate()
        server.wait(30)
    return {
        "demo_idle_cpu": round(cpu / plan.idle_seconds, 4),
        "demo_idle_wakeups_per_s": round(switches / plan.idle_seconds, 1),
    }


def _renamed(figures: dict, names: dict[str, str]) -> dict:
    """Figures (and their reasons) under other names: a section's keys for PostgreSQL."""
    out = {}
    for key, value in figures.items():
        for suffix in ("_why", "_spread", ""):
            if key.endswith(suffix) and key.removesuffix(suffix) in names:
                out[names[key.removesuffix(suffix)] + suffix] = value
                break
        else:
            out[key] = value
    return out


def _ratio(part, whole):
    return round(part / whole, 3) if part and whole else None


def _postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


def _child(
    section: str, database_url: str, sim_url: str, plan: Plan, *, log, redis: bool = False
) -> dict:
    """Run one section in a fresh process on `database_url`; returns its figures. A section
    that fails returns its keys unmeasured, with the reason it gave. With `redis` the child
    keeps REDIS_URL, its keys under a prefix of their own; without, it runs on the
    in-memory layer, as in the embedded mode."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [sys.executable, str(MANAGE), "bench", "--section", section, "--out", out.name]
        command += ["--sim", sim_url] if sim_url else []
        command += plan.options()
        # As in production: DEBUG off (no query log), a key of its own for the scratch data.
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or uuid.uuid4().hex * 2,
            "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "AUDIT_HMAC_KEY": f"bench:{uuid.uuid4().hex * 2}",
            "ALLOWED_HOSTS": "testserver",
            "CONNECTION_ALLOWED_HOSTS": "127.0.0.1",  # the simulator
            "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",  # the webhooks section's receiver
            "SECURE_SSL_REDIRECT": "false",  # plain HTTP on the loopback
        }
        if redis:
            env["REDIS_KEY_PREFIX"] = f"assistgov-bench-{uuid.uuid4().hex[:8]}"
        else:
            env.pop("REDIS_URL", None)
        process = subprocess.run(command, env=env, check=False)
        text = Path(out.name).read_text()
    figures = json.loads(text) if text else {}
    if process.returncode == 0 and "error" not in figures:
        return figures
    why = figures.get("error") or f"the {section} section exited with code {process.returncode}"
    log(f"{section}: not measured: {why}")
    return unmeasured(SECTION_KEYS[section], why)


@contextlib.contextmanager
def simulator(events: int, *, rate: float = 0, keep_seconds: float = 10):
    """The simulator in a process of its own: `events` kept for replay, or generating
    `rate` insights/s (and keeping the last `keep_seconds` of them)."""
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            str(MANAGE),
            "genesys_simulator",
            "--port",
            str(port),
            "--rate",
            str(rate),
            "--encoding",
            "text",
            "--hostile-ratio",
            "0",
            "--retention",
            str(events + 1000 + int(rate * keep_seconds)),
            "--run-id",
            RUN_ID,
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url + "/_sim/stats", process, "the simulator")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _emit(sim_url: str, count: int) -> None:
    httpx.post(sim_url + "/_sim/emit", json={"count": count}, timeout=300).raise_for_status()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def scratch_database(url: str):
    """A new, empty PostgreSQL database beside the one `url` names; dropped afterwards."""
    import psycopg

    name = f"assistgov_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def resume_point() -> str:
    """The id before the first generated event: subscribing after it replays them all."""
    from streams.simulator.generator import event_id

    return event_id(0, RUN_ID)


async def receive_ceiling(sim_url: str, events: int) -> float:
    """Insights/s a bare client receives and JSON-decodes from the same stream."""
    from websockets.asyncio.client import connect

    from streams.genesys.payloads import build_subscription
    from streams.genesys.regions import websocket_url

    basic = base64.b64encode(":".join(SIM_CLIENT).encode()).decode()
    async with httpx.AsyncClient() as http:
        reply = await http.post(
            sim_url + "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        )
        token = reply.raise_for_status().json()["access_token"]
    subscription = build_subscription(
        subscription_id="bench-ceiling",
        interaction_ids=[],
        insight_types=[],
        min_confidence=0.0,
        max_confidence=1.0,
        extra_filters=[],
        resume_after=resume_point(),
    )
    url = websocket_url(sim_url, "/api/v2/analytics/events")
    started = time.perf_counter()
    async with connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None
    ) as ws:
        await ws.send(subscription.model_dump_json(by_alias=True, exclude_none=True))
        received = 0
        while received < events:
            if json.loads(await ws.recv()).get("type") == "agentassist.insight":
                received += 1
    return round(events / (time.perf_counter() - started), 1)


# The children: one section each, on the scratch database DATABASE_URL names


def run_section(section: str, *, plan: Plan, sim_url: str) -> dict:
    from django.core.management import call_command

    if section == "commits":  # beside `serve`, on its database
        return _poll_commits()
    call_command("migrate", verbosity=0)
    if section == "ingest":
        return asyncio.run(_ingest(sim_url, plan.events))
    if section == "webhooks":
        return asyncio.run(_ingest_with_webhook(sim_url, plan.events))
    if section == "csv":
        return _csv_and_pages(plan.csv_rows)
    if section == "live":
        return _live(sim_url, plan)
    if section == "browser":
        return browser.measure(sim_url, plan, sys.modules[__name__])
    if section == "scaled":
        return scaled.measure(sim_url, plan, sys.modules[__name__])
    raise ValueError(f"unknown section {section}")


def child_env() -> dict:
    """The environment of a `serve` the bench starts on its scratch database."""
    return {**os.environ, "ALLOWED_HOSTS": "127.0.0.1"}


async def _ingest(sim_url: str, events: int) -> dict:
    from channels.db import database_sync_to_async

    from streams.models import StreamStatus
    from streams.worker.process import StreamWorkerProcess

    stream = await database_sync_to_async(_bench_stream)(sim_url)
    stored = database_sync_to_async(
        lambda: StreamStatus.objects.values_list("insights_stored", flat=True).get(pk=stream.pk)
    )
    worker = StreamWorkerProcess(worker_id="bench", reconcile_seconds=60, lease_seconds=600)
    started = time.perf_counter()
    task = asyncio.create_task(worker.run())
    try:
        while await stored() < events:
            if task.done():
                task.result()
                raise RuntimeError("the stream worker stopped")
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        worker.stop()
        await asyncio.wait_for(task, 30)
    return {"ingest_per_s": round(events / elapsed, 1)}


async def _ingest_with_webhook(sim_url: str, events: int) -> dict:
    """Ingest as `_ingest`, with one endpoint for insight.created (batches of
    WEBHOOK_BENCH_BATCH events) on a receiver in a process of its own that verifies every
    signature and answers at once, and the webhooks sent by `manage.py runwebhooks` (as the
    scaled deployment runs them): insights/s stored, and the seconds until the receiver has
    verified every event (the delivery backlog drained)."""
    from channels.db import database_sync_to_async
    from django.conf import settings

    from streams.models import StreamStatus, WebhookEndpoint
    from streams.worker.process import StreamWorkerProcess

    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    port = _free_port()
    receiver = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "perf.receiver", "--port", str(port), "--secret", secret],
        cwd=MANAGE.parent,
    )
    count_url = f"http://127.0.0.1:{port}/count"

    def endpoint():
        hook = WebhookEndpoint(
            name="bench",
            url=f"http://127.0.0.1:{port}/hook",
            events=["insight.created"],
            batch_size=WEBHOOK_BENCH_BATCH,
        )
        hook.set_secret(secret)
        hook.save()

    await database_sync_to_async(endpoint)()
    stream = await database_sync_to_async(_bench_stream)(sim_url)
    stored = database_sync_to_async(
        lambda: StreamStatus.objects.values_list("insights_stored", flat=True).get(pk=stream.pk)
    )
    settings.WEBHOOKS_IN_STREAM_WORKER = False
    sender = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, str(MANAGE), "runwebhooks", "--worker-id", "bench-webhooks"],
        env={**os.environ, "WEBHOOK_POLL_SECONDS": "0.1"},
    )
    counts = {"received": 0, "refused": 0}
    try:
        async with httpx.AsyncClient() as http:
            await _wait_until_answers(http, count_url, receiver)
            worker = StreamWorkerProcess(worker_id="bench", reconcile_seconds=60, lease_seconds=600)
            started = time.perf_counter()
            task = asyncio.create_task(worker.run())
            ingested = None
            try:
                while counts["received"] < events:
                    if task.done():
                        task.result()
                        raise RuntimeError("the stream worker stopped")
                    if ingested is None and await stored() >= events:
                        ingested = time.perf_counter() - started
                    counts = (await http.get(count_url)).json()
                    await asyncio.sleep(0.05)
                drained = time.perf_counter() - started
            finally:
                worker.stop()
                await asyncio.wait_for(task, 60)
    finally:
        for process in (sender, receiver):
            process.terminate()
            await asyncio.to_thread(process.wait, 30)
    if counts["refused"]:
        raise Unmeasured(f"the receiver refused {counts['refused']} requests: a bad signature")
    return {
        "ingest_webhook_per_s": round(events / (ingested or drained), 1),
        "webhook_drain_s": round(drained, 2),
        "webhook_delivered": counts["received"],
    }


async def _wait_until_answers(http, url: str, process) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            raise Unmeasured(f"the webhook receiver exited with code {process.returncode}")
        try:
            await http.get(url)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise Unmeasured(
                    f"the webhook receiver did not answer within {START_SECONDS:.0f} s"
                ) from None
            await asyncio.sleep(0.1)


def _live(sim_url: str, plan: Plan) -> dict:
    """`serve` on this scratch database with the simulator at the live rate, and the plan's
    logged-in review pages: commit and page latencies, and the updates the pages get."""
    from streams.models import StreamConfig, StreamStatus

    connection, matrix = _scratch_config(sim_url)
    stream = StreamConfig.objects.create(
        name="live", connection=connection, confidence_matrix=matrix, enabled=True
    )
    StreamStatus.objects.get_or_create(stream=stream)  # no resume point: live events only
    cookie = login_cookie()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, str(MANAGE), "serve", "--no-simulator", "--port", str(port)],
        env=child_env(),
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", server, "manage.py serve")
        figures, seen = with_commit_poller(lambda: asyncio.run(_measure_live([port], cookie, plan)))
    finally:
        server.terminate()
        server.wait(30)
    return commit_figures(figures, seen, plan)


def login_cookie() -> str:
    """A new superuser's session cookie, for the review pages' sockets."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser(
        f"bench-{uuid.uuid4().hex[:6]}", password=uuid.uuid4().hex
    )
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def with_commit_poller(measure) -> tuple[dict, dict[int, float]]:
    """`measure()`'s figures, and when each new row was seen committed by an independent
    reader meanwhile (this process is busy with the pages)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        poller = subprocess.Popen(
            [sys.executable, str(MANAGE), "bench", "--section", "commits", "--out", out.name],
            stdin=subprocess.PIPE,
        )
        try:
            figures = measure()
        finally:
            poller.communicate(b"stop\n", timeout=60)  # a line on its input stops it
        if poller.returncode != 0:
            raise RuntimeError("the commit poller failed")
        seen = {int(pk): at for pk, at in json.loads(Path(out.name).read_text()).items()}
    return figures, seen


def commit_figures(figures: dict, seen: dict[int, float], plan: Plan) -> dict:
    """The live figures with the commit percentiles of the rows sent in the window."""
    window, sent = figures.pop("window"), figures.pop("sent")
    committed = [(seen[pk] - sent[pk]) * 1000 for pk in window if pk in seen]
    why = (
        f"{len(committed)} insight(s) were seen committed in the {plan.live_seconds:g} s "
        "window; percentiles need two or more"
    )
    return {
        **measured("commit_p50_ms", _percentile(committed, 50), why),
        **measured("commit_p99_ms", _percentile(committed, 99), why),
        **figures,
    }


def _wait_for(
    url: str, process: subprocess.Popen, what: str, timeout: float = START_SECONDS
) -> None:
    """Until `url` answers; raises Unmeasured naming `what` if its process ends first or
    it has not answered after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=5).raise_for_status()
            return
        except httpx.HTTPError:
            if process.poll() is not None:
                raise Unmeasured(
                    f"{what} exited with code {process.returncode} before answering"
                ) from None
            if time.monotonic() > deadline:
                raise Unmeasured(f"{what} did not answer {url} within {timeout:.0f} s") from None
            time.sleep(0.1)


class _Page:
    """One review page's socket: when updates arrived and how many items each carried;
    a sampled page also keeps each update's text, decoded after the run."""

    def __init__(self, sampled: bool):
        self.sampled = sampled
        self.arrivals: list[tuple[float, int]] = []
        self.texts: list[tuple[float, str]] = []

    async def run(self, url: str, cookie: str, origin: str, subscribed: asyncio.Event) -> None:
        from websockets.asyncio.client import connect

        headers = {"Cookie": cookie, "Origin": origin}
        async with connect(url, additional_headers=headers, max_size=None) as ws:
            await ws.send(json.dumps({"type": "subscribe", "filters": {}}))
            if json.loads(await ws.recv()).get("type") != "page":
                raise RuntimeError("the review socket sent no page")
            subscribed.set()
            async for text in ws:
                now = time.time()
                # New items reach a page as their keys ("12 new items"), not as rows.
                self.arrivals.append((now, text.count('"insight:')))
                if self.sampled:
                    self.texts.append((now, text))


async def _measure_live(ports: list[int], cookie: str, plan: Plan) -> dict:
    """The plan's review pages, spread over the web processes on `ports`."""
    from channels.db import database_sync_to_async

    seconds, sampled = plan.live_seconds, plan.live_sampled
    pages = [_Page(sampled=n < sampled) for n in range(plan.live_pages)]
    ready = [asyncio.Event() for _ in pages]
    tasks = []
    for n, (page, event) in enumerate(zip(pages, ready, strict=True)):
        port = ports[n % len(ports)]
        url, origin = f"ws://127.0.0.1:{port}/ws/review/", f"http://127.0.0.1:{port}"
        tasks.append(asyncio.create_task(page.run(url, cookie, origin, event)))
    ready_within = READY_BASE_SECONDS + READY_SECONDS_PER_PAGE * len(pages)
    try:
        await _pages_ready(tasks, ready, ready_within)
        await asyncio.sleep(LIVE_WARM_UP)  # the stream connects, batches settle
        start = time.time()
        end = start + seconds
        await asyncio.sleep(seconds + LIVE_GRACE)  # what was sent before `end` may be on its way
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    failed = [r for r in results if isinstance(r, Exception | BaseExceptionGroup)]
    failed = [r for r in failed if not isinstance(r, asyncio.CancelledError)]
    if failed:
        raise RuntimeError(f"{len(failed)} review sockets failed: {failed[0]!r}")
    sent = await database_sync_to_async(_sent_times)()
    live = []
    window = {pk for pk, when in sent.items() if start <= when < end}
    for page in pages[:sampled]:
        seen = {}
        for arrived, text in page.texts:
            for key in json.loads(text).get("keys", []):
                kind, _, number = key.partition(":")
                if kind == "insight" and int(number) in window:
                    seen.setdefault(int(number), arrived)
        live += [(arrived - sent[pk]) * 1000 for pk, arrived in seen.items()]
    delivered = sum(
        count for page in pages for arrived, count in page.arrivals if start <= arrived < end
    )
    expected = len(window) * sampled
    why = (
        f"{len(live)} item update(s) reached the {sampled} timed pages in the {seconds:g} s "
        "window; percentiles need two or more"
    )
    nothing_sent = f"no insight was stored in the {seconds:g} s window"
    return {
        "window": window,
        "sent": sent,
        "live_rate_per_s": round(len(window) / seconds, 1),
        **measured("live_p50_ms", _percentile(live, 50), why),
        **measured("live_p99_ms", _percentile(live, 99), why),
        **measured(
            "live_delivered_ratio",
            round(len(live) / expected, 4) if expected else None,
            nothing_sent,
        ),
        "fanout_msgs_per_s": round(delivered / seconds, 1),
        "fanout_offered_per_s": round(len(window) * len(pages) / seconds, 1),
    }


async def _pages_ready(tasks: list[asyncio.Task], ready: list[asyncio.Event], within: float):
    """Until every page has its first page; a page whose socket fails first says why."""
    everyone = asyncio.ensure_future(asyncio.gather(*(event.wait() for event in ready)))
    deadline = time.monotonic() + within
    try:
        while not everyone.done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                waiting = sum(not event.is_set() for event in ready)
                raise Unmeasured(
                    f"{waiting} of {len(ready)} review pages had no first page after {within:.0f} s"
                )
            pending = [task for task in tasks if not task.done()]
            await asyncio.wait(
                [everyone, *pending], timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise Unmeasured(
                        f"a review page's socket failed before its first page: {task.exception()!r}"
                    )
    finally:
        everyone.cancel()


def _sent_times() -> dict[int, float]:
    """Each insight's send time: its event time, which the simulator stamps as it sends
    (to the millisecond)."""
    from streams.models import Insight

    return {pk: when.timestamp() for pk, when in Insight.objects.values_list("pk", "event_time")}


def _poll_commits() -> dict[int, float]:
    """When each new row was first seen committed, polling every 10 ms until a line
    arrives on standard input."""
    import select

    from streams.models import Insight

    seen: dict[int, float] = {}
    last_id = 0
    while not select.select([sys.stdin], [], [], 0)[0]:
        now = time.time()
        ids = list(
            Insight.objects.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)
        )
        seen.update((pk, now) for pk in ids)
        last_id = ids[-1] if ids else last_id
        time.sleep(0.01)
    return seen


def _percentile(values: list[float], percent: int) -> float | None:
    if len(values) < 2:
        return None
    return round(statistics.quantiles(values, n=100, method="inclusive")[percent - 1], 1)


def _scratch_config(sim_url: str, name: str = "bench"):
    """A connection to the simulator at `sim_url` and a matrix that takes everything."""
    from streams.models import ConfidenceMatrix, GenesysConnection

    connection = GenesysConnection(
        name=name, api_base_url=sim_url, login_base_url=sim_url, client_id=SIM_CLIENT[0]
    )
    connection.set_client_secret(SIM_CLIENT[1])
    connection.save()
    return connection, ConfidenceMatrix.objects.create(name=name, default_weight=1.0)


def _bench_stream(sim_url: str):
    from streams.models import StreamConfig, StreamStatus

    connection, matrix = _scratch_config(sim_url)
    stream = StreamConfig.objects.create(
        name="bench", connection=connection, confidence_matrix=matrix, enabled=True
    )
    StreamStatus.objects.update_or_create(stream=stream, defaults={"last_event_id": resume_point()})
    return stream


def _csv_and_pages(rows: int) -> dict:
    from django.db import connection

    _fill(rows)
    # The ceiling reads exactly what the export reads: the same query, as SQL.
    sql = literal_sql(*export_query().sql_with_params(), connection)
    figures = {}
    figures["csv_rows_per_s"], figures["csv_peak_rss_mb"] = _export_run(rows)
    started = time.perf_counter()
    if connection.vendor == "sqlite":
        db = connection.settings_dict["NAME"]
        with open(os.devnull, "wb") as sink:
            subprocess.run([_sqlite3(), "-csv", str(db), sql], stdout=sink, check=True)
    else:
        with (
            connection.cursor() as cursor,
            cursor.connection.cursor().copy(f"COPY ({sql}) TO STDOUT CSV") as copy,
        ):
            for _ in copy:
                pass
    figures["csv_ceiling_rows_per_s"] = round(rows / (time.perf_counter() - started), 1)
    figures["csv_ratio"] = _ratio(figures["csv_rows_per_s"], figures["csv_ceiling_rows_per_s"])
    figures["changelist_ms"], figures["review_snapshot_ms"] = _pages()
    return figures


def export_query():
    """The query `export_csv insights` runs over every row (one page of it, unbounded)."""
    from audit.exports import EXPORTS, queryset_for, with_labels

    fields = EXPORTS["insights"].fields
    queryset = with_labels(queryset_for("insights", {}), fields)
    return queryset.order_by("pk").values_list(*fields).query


def literal_sql(sql: str, params, connection) -> str:
    """`sql` with its parameters written in, for the database's own command line (`sqlite3
    -csv`) or `COPY (...) TO STDOUT`, which take no parameters."""
    if not params:
        return sql
    if connection.vendor == "postgresql":
        import psycopg

        with connection.cursor() as cursor:
            return psycopg.ClientCursor(cursor.connection).mogrify(sql, params)
    return sql % tuple(_sqlite_literal(value) for value in params)


def _sqlite_literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _sqlite3() -> str:
    found = shutil.which("sqlite3")
    if found is None:
        raise RuntimeError("the CSV ceiling needs the sqlite3 command line (apt install sqlite3)")
    return found


def _fill(rows: int, decided_every: int | None = 10) -> None:
    """`rows` insights over 4 streams and 5 types, one in `decided_every` decided (none
    with None), written by ingestion's own writer (so stored as the product stores them)."""
    import random
    from datetime import UTC, datetime, timedelta

    from django.db import connection, transaction

    from streams.ingest.store import INSIGHT_ROWS
    from streams.models import StreamConfig

    connection_row, matrix = _scratch_config("http://127.0.0.1:1")  # never connected
    streams = [
        StreamConfig.objects.create(
            name=f"bench-{n}", connection=connection_row, confidence_matrix=matrix
        ).pk
        for n in range(4)
    ]
    rng = random.Random(7)
    types = ("knowledge_recommendation", "sentiment_alert", "compliance_flag", "intent", "script")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    chunk = 10_000
    for offset in range(0, rows, chunk):
        batch = []
        for n in range(offset, min(rows, offset + chunk)):
            confidence = round(rng.random(), 3)
            when = start + timedelta(milliseconds=n * 50, microseconds=n % 1000)
            text = f"Insight {n}: offer the 30-day refund under policy KB-{n % 500}"
            decided = decided_every is not None and n % decided_every == decided_every - 1
            batch.append(
                {
                    "stream_id": streams[n % 4],
                    "external_id": f"evt-{n:09d}",
                    "interaction_id": f"interaction-{n % 5000}",
                    "insight_type": types[n % 5],
                    "confidence": confidence,
                    "relevance_score": confidence,
                    "snippet": text,
                    "payload": {"type": "agentassist.insight", "content": {"text": text}},
                    "event_time": when,
                    "received_at": when,
                    "latency_ms": 3.0,
                    "review_status": "approved" if decided else "pending",
                    "reviewed_at": when + timedelta(seconds=30) if decided else None,
                    "review_rule": "",
                    "review_reason_code": "",
                    "review_note": "",
                    "corrected_text": "",
                    "review_decision_id": "",
                }
            )
        with transaction.atomic():
            INSIGHT_ROWS.insert(batch)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def _export_run(rows: int) -> tuple[float, float]:
    """`export_csv insights` in a process of its own: rows/s, and its peak RSS in MB."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(MANAGE), "export_csv", "insights", "-o", os.devnull],
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"export_csv failed with exit code {process.returncode}")
    return round(rows / elapsed, 1), round(usage.ru_maxrss / 1024, 1)  # ru_maxrss: KiB


def _pages() -> tuple[float, float]:
    """Median wall time (ms) of the admin insight changelist and of the review snapshot."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings

    from audit.queue import review_queue
    from audit.selectors import ReviewFilters

    user = get_user_model().objects.create_superuser("bench", password=uuid.uuid4().hex)
    client = Client()
    client.force_login(user)

    def timed(action) -> float:
        action()  # warm up
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            action()
            samples.append((time.perf_counter() - started) * 1000)
        return round(statistics.median(samples), 1)

    # The page, not the static files: without collectstatic there is no manifest.
    plain_static = override_settings(
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    )

    @plain_static
    def changelist():
        response = client.get("/admin/streams/insight/")
        if response.status_code != 200:
            raise RuntimeError(f"the changelist answered {response.status_code}")

    return timed(changelist), timed(lambda: review_queue(ReviewFilters()))


# Output

TABLE = (
    ("ingest_per_s", "insights/s, simulator -> worker -> committed rows (SQLite)", ">= 10000"),
    ("ceiling_receive_per_s", "insights/s a bare websockets client receives", "ceiling"),
    ("ingest_ratio", "ingest / ceiling (the target: at 200,000 insights)", ">= 0.3"),
    ("ingest_pg_per_s", "the same on PostgreSQL", ">= 10000"),
    ("ingest_webhook_per_s", "insights/s with an insight.created endpoint (SQLite)", ""),
    ("ingest_webhook_ratio", "ingest with the endpoint / without", ">= 0.8"),
    ("webhook_drain_s", "seconds until the receiver verified every event", ""),
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
    ("csv_rows_per_s", "export_csv insights, rows/s (SQLite)", ""),
    ("csv_ceiling_rows_per_s", "sqlite3 -csv over the same rows", "ceiling"),
    ("csv_ratio", "export / ceiling", ">= 0.3"),
    ("csv_peak_rss_mb", "export_csv peak RSS (MB)", "<= 150"),
    ("changelist_ms", "admin insight changelist (ms)", "<= 300"),
    ("review_snapshot_ms", "review queue snapshot (ms)", "<= 300"),
    ("review_first_page_ms", "review page in Chromium: login to first rows (ms)", "<= 1000"),
    ("review_page_next_ms", "review page: next page on screen (ms)", "<= 300"),
    ("review_key_p95_ms", "review page: key press to confirmed decision, p95 (ms)", "<= 150"),
    ("review_main_thread_busy", "review page: main thread busy share, live", "<= 0.2"),
    ("csv_rows_per_s_pg", "export_csv insights, rows/s (PostgreSQL)", ""),
    ("csv_ceiling_rows_per_s_pg", "COPY ... TO STDOUT CSV", "ceiling"),
    ("csv_ratio_pg", "export / ceiling (PostgreSQL)", ">= 0.3"),
    ("csv_peak_rss_mb_pg", "export_csv peak RSS (MB, PostgreSQL)", "<= 150"),
    ("changelist_ms_pg", "admin insight changelist (ms, PostgreSQL)", "<= 300"),
    ("review_snapshot_ms_pg", "review queue snapshot (ms, PostgreSQL)", "<= 300"),
    ("review_first_page_ms_pg", "review page: login to first rows (ms, PostgreSQL)", "<= 1000"),
    ("review_page_next_ms_pg", "review page: next page (ms, PostgreSQL)", "<= 300"),
    ("review_key_p95_ms_pg", "review page: key to confirmed, p95 (ms, PostgreSQL)", "<= 150"),
    ("review_main_thread_busy_pg", "review page: main thread busy (PostgreSQL)", "<= 0.2"),
    ("demo_idle_cpu", "make demo, no page open: share of a core", "<= 0.05"),
    ("demo_idle_wakeups_per_s", "make demo, no page open: times woken per second", ""),
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
