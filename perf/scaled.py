"""`bench --scaled`: the live section through the scaled deployment, then a killed worker.

Run in a child whose DATABASE_URL names a scratch PostgreSQL database and whose Redis keys
carry a prefix of their own (REDIS_KEY_PREFIX), so a deployment on the same servers is never
reached. It starts what production runs: SCALED_WEB daphne processes and SCALED_WORKERS
`runstreams` workers, SCALED_STREAMS streams that the workers share by their leases, and the
plan's review pages spread over the web processes. The simulator sends each event to every
stream, so it runs at the offered rate divided by the streams.

Then it kills (SIGKILL) a worker holding streams and measures `failover_s`: from the kill to
the first event of those streams stored by the other worker, which takes them over when
their leases expire. Every event generated until the takeover settled is then accounted for
on every stream: lost (owed, never stored) and stored twice.
"""

import asyncio
import contextlib
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings

from perf.live import commit_figures, measure_live, with_commit_poller
from perf.runner import (
    MANAGE,
    RUN_ID,
    START_SECONDS,
    Unmeasured,
    child_env,
    free_port,
    login_cookie,
    renamed,
    scratch_config,
    wait_for,
)

SCALED_STREAMS = 4
SCALED_WEB = 2
SCALED_WORKERS = 2
# The simulator keeps this much of its stream: what a takeover replays (the lease, the
# reconcile and the reconnect, with room on a slow host).
KEEP_SECONDS = 300.0
SETTLE_SECONDS = 180.0  # a bound against a hang while the streams catch up, not a limit

KEYS = (
    "scaled_rate_per_s",
    "scaled_commit_p50_ms",
    "scaled_commit_p99_ms",
    "scaled_live_p50_ms",
    "scaled_live_p99_ms",
    "scaled_delivered_ratio",
    "failover_s",
    "failover_lease_s",
    "failover_lost",
    "failover_stored_twice",
)


class Processes(contextlib.ExitStack):
    """Processes of the deployment, each logging to a file of its own (a pipe nobody reads
    would fill and stall it); all killed however the block ends."""

    def __init__(self):
        super().__init__()
        self.folder = Path(self.enter_context(tempfile.TemporaryDirectory(prefix="assistgov-")))
        self.running: dict[str, subprocess.Popen] = {}
        self.callback(self._kill_all)

    def start(self, name: str, command: list[str], env: dict) -> subprocess.Popen:
        with (self.folder / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.running[name] = process
        return process

    def tail(self, name: str, lines: int = 20) -> str:
        text = (self.folder / f"{name}.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def check(self) -> None:
        """Raise, with its last lines, if a process of the deployment has exited."""
        for name, process in self.running.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {process.returncode}:\n{self.tail(name)}"
                )

    def kill(self, name: str) -> None:
        process = self.running.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def _kill_all(self) -> None:
        for process in self.running.values():
            process.terminate()
        for process in self.running.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def measure(sim_url: str, plan) -> dict:
    """The scaled section's figures (see the module's docstring)."""
    from streams.models import StreamConfig, StreamStatus

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise Unmeasured("the scaled deployment needs DATABASE_URL on PostgreSQL")
    if not settings.REDIS_URL:
        raise Unmeasured("the scaled deployment needs REDIS_URL")
    connection, matrix = scratch_config(sim_url)
    streams = []
    for n in range(1, SCALED_STREAMS + 1):
        stream = StreamConfig.objects.create(
            name=f"scaled-{n}", connection=connection, confidence_matrix=matrix, enabled=True
        )
        StreamStatus.objects.get_or_create(stream=stream)  # no resume point: live events only
        streams.append(stream.pk)
    cookie = login_cookie()
    env = child_env()
    with Processes() as processes:
        ports = [free_port() for _ in range(SCALED_WEB)]
        for n, port in enumerate(ports, 1):
            daphne = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
            command = [sys.executable, *daphne, "assistgov.asgi:application"]
            processes.start(f"web-{n}", command, env)
        workers = [f"bench-worker-{n}" for n in range(1, SCALED_WORKERS + 1)]
        for name in workers:
            command = [sys.executable, str(MANAGE), "runstreams", "--worker-id", name]
            processes.start(name, command, env)
        for n, port in enumerate(ports, 1):
            name = f"web-{n}"
            wait_for(f"http://127.0.0.1:{port}/healthz", processes.running[name], name)
        _wait_shared(streams, workers, processes)
        figures, seen = with_commit_poller(lambda: asyncio.run(measure_live(ports, cookie, plan)))
        live = commit_figures(figures, seen, plan)
        failover = _failover(sim_url, streams, workers[0], processes)
    return {**scaled_names(live), **failover}


# The live section's figures this section reports, under their scaled names.
LIVE_NAMES = {
    "live_rate_per_s": "scaled_rate_per_s",
    "commit_p50_ms": "scaled_commit_p50_ms",
    "commit_p99_ms": "scaled_commit_p99_ms",
    "live_p50_ms": "scaled_live_p50_ms",
    "live_p99_ms": "scaled_live_p99_ms",
    "live_delivered_ratio": "scaled_delivered_ratio",
}


def scaled_names(live: dict) -> dict:
    """The live figures (and the reasons of those not measured) under their scaled names."""
    kept = {key: value for key, value in live.items() if key.removesuffix("_why") in LIVE_NAMES}
    return renamed(kept, LIVE_NAMES)


def _holders(streams: list[int]) -> dict[int, tuple[str, str]]:
    from streams.models import StreamStatus

    rows = StreamStatus.objects.filter(pk__in=streams).values_list("pk", "worker", "state")
    return {pk: (worker, state) for pk, worker, state in rows}


def _wait_shared(streams, workers, processes) -> None:
    """Until every stream is connected and the workers share them evenly."""
    even = len(streams) // len(workers)
    deadline = time.monotonic() + START_SECONDS + settings.STREAMS_LEASE_SECONDS * 4
    while True:
        processes.check()
        holders = _holders(streams)
        connected = [worker for worker, state in holders.values() if state == "connected"]
        if len(connected) == len(streams) and all(
            connected.count(worker) == even for worker in workers
        ):
            return
        if time.monotonic() > deadline:
            raise Unmeasured(
                f"the streams were not connected and shared within the bound: {holders}"
            )
        time.sleep(0.2)


def _failover(sim_url: str, streams: list[int], victim: str, processes) -> dict:
    """Kill `victim`; the seconds until the other worker stored an event of its streams,
    then every event accounted for."""
    import httpx

    from streams.models import Insight

    theirs = [pk for pk, (worker, _) in _holders(streams).items() if worker == victim]
    processes.kill(victim)
    killed_at = time.time()
    last = Insight.objects.filter(stream_id__in=theirs).order_by("-pk").values_list("pk", flat=True)
    after = next(iter(last), 0)
    bound = settings.STREAMS_LEASE_SECONDS * 4 + START_SECONDS
    while not Insight.objects.filter(stream_id__in=theirs, pk__gt=after).exists():
        processes.check()
        if time.time() - killed_at > bound:
            raise Unmeasured(
                f"no event of the killed worker's streams was stored within {bound:.0f} s"
            )
        time.sleep(0.02)
    failover_s = round(time.time() - killed_at, 2)
    # Everything generated up to now is owed by every stream, from the first event it stored.
    generated = httpx.get(sim_url + "/_sim/stats").raise_for_status().json()["generated"]
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        lost, twice = _account(streams, generated)
        if not lost or time.monotonic() > deadline:
            break
        processes.check()
        time.sleep(0.5)
    return {
        "failover_s": failover_s,
        "failover_lease_s": settings.STREAMS_LEASE_SECONDS,
        "failover_lost": lost,
        "failover_stored_twice": twice,
    }


def _account(streams: list[int], generated: int) -> tuple[int, int]:
    """Events (by the simulator's sequence) each stream owes up to `generated` and has not
    stored, and events it stored more than once, summed over the streams."""
    from streams.models import Insight
    from streams.simulator.generator import event_seq

    lost = twice = 0
    for stream in streams:
        ids = list(Insight.objects.filter(stream_id=stream).values_list("external_id", flat=True))
        seqs = [seq for seq in (event_seq(i, RUN_ID) for i in ids) if seq is not None]
        twice += len(seqs) - len(set(seqs))
        if seqs:
            owed = set(range(min(seqs), generated + 1))
            lost += len(owed - set(seqs))
    return lost, twice
