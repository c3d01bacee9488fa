"""What every section of the bench stands on: the plan, figures measured or not (with the
reason), running a section in fresh processes on scratch databases, the simulator in a
process of its own, and the medians and spreads of several runs."""

import base64
import contextlib
import json
import os
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

SIM_CLIENT = ("assistgov-demo", "assistgov-demo-secret")
RUN_ID = "bench"
HOST_LOOP_STEPS = 10_000_000  # the host's speed: seconds for this many steps of Python
LIVE_PAGES = 100  # review-page sockets open during it
LIVE_SAMPLED = 10  # pages whose every update is timed (the others are counted)
# Readiness waits grow with what is asked: a slow host takes longer to log in many pages.
READY_BASE_SECONDS = 60.0
READY_SECONDS_PER_PAGE = 1.0
START_SECONDS = 120.0  # a process of ours starting and answering its health check
RUNS = 3  # each section runs this many times; the median is printed, the spread beside it
RATE_STEPS = 4  # live runs that look for the highest rate the pages keep up with
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


def ratios(figures: dict, *triples) -> None:
    for key, part, whole in triples:
        figures.update(
            measured(
                key,
                ratio(figures.get(part), figures.get(whole)),
                f"{part} or {whole} was not measured",
            )
        )


def sqlite_files(folder: Path):
    """Scratch SQLite databases in `folder`, a new file each time."""
    count = iter(range(1, 1_000_000))

    @contextlib.contextmanager
    def new():
        yield f"sqlite:///{folder / f'bench-{next(count)}.sqlite3'}"

    return new


def postgres_databases(url: str):
    return lambda: scratch_database(url)


def section(
    name: str, keys, database, sim_url: str, plan: Plan, *, log, runs=None, redis=False
) -> dict:
    """Section `name` run `runs` (the plan's) times, each in a fresh process on a fresh
    database from `database()`: the median of each of its `keys`, with the spread beside it."""
    runs = runs or plan.runs
    results = []
    for n in range(1, runs + 1):
        if runs > 1:
            log(f"{name}: run {n} of {runs}")
        with database() as url:
            results.append(child(name, keys, url, sim_url, plan, log=log, redis=redis))
    return merged(results, keys)


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


def renamed(figures: dict, names: dict[str, str]) -> dict:
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


def ratio(part, whole):
    return round(part / whole, 3) if part and whole else None


def postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


def child(
    section: str, keys, database_url: str, sim_url: str, plan: Plan, *, log, redis: bool = False
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
            "PERSONAL_DATA_HASH_KEY": uuid.uuid4().hex * 2,
            # The chain's head is signed every period, as in production.
            "AUDIT_SIGNING_KEY": base64.b64encode(os.urandom(32)).decode(),
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
    return unmeasured(keys, why)


@contextlib.contextmanager
def simulator(events: int, *, rate: float = 0, keep_seconds: float = 10):
    """The simulator in a process of its own: `events` kept for replay, or generating
    `rate` insights/s (and keeping the last `keep_seconds` of them)."""
    port = free_port()
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
            # One text in ten carries a card number, e-mail, IBAN or phone number.
            "--personal-ratio",
            "0.1",
            "--retention",
            str(events + 1000 + int(rate * keep_seconds)),
            "--run-id",
            RUN_ID,
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/_sim/stats", process, "the simulator")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def emit(sim_url: str, count: int) -> None:
    httpx.post(sim_url + "/_sim/emit", json={"count": count}, timeout=300).raise_for_status()


def free_port() -> int:
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


def child_env() -> dict:
    """The environment of a `serve` the bench starts on its scratch database."""
    return {**os.environ, "ALLOWED_HOSTS": "127.0.0.1"}


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


def wait_for(
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


def percentile(values: list[float], percent: int) -> float | None:
    if len(values) < 2:
        return None
    return round(statistics.quantiles(values, n=100, method="inclusive")[percent - 1], 1)


def scratch_config(sim_url: str, name: str = "bench"):
    """A connection to the simulator at `sim_url` and a matrix that takes everything."""
    from streams.models import ConfidenceMatrix, GenesysConnection

    connection = GenesysConnection(
        name=name, api_base_url=sim_url, login_base_url=sim_url, client_id=SIM_CLIENT[0]
    )
    connection.set_client_secret(SIM_CLIENT[1])
    connection.save()
    return connection, ConfidenceMatrix.objects.create(name=name, default_weight=1.0)


def bench_stream(sim_url: str):
    from streams.models import StreamConfig, StreamStatus

    connection, matrix = scratch_config(sim_url)
    stream = StreamConfig.objects.create(
        name="bench", connection=connection, confidence_matrix=matrix, enabled=True
    )
    StreamStatus.objects.update_or_create(stream=stream, defaults={"last_event_id": resume_point()})
    return stream
