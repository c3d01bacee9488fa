"""Live: at 2,000 insights/s or a quarter of the ingest figure, whichever is lower (a fixed
rate would measure the host), `manage.py serve` (daphne and the stream worker in one
process) with 100 logged-in review-page sockets open: the time from the simulator's send
to the committed row and to the pages, the updates/s the pages receive together, and the
highest rate at which they keep up."""

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from perf.runner import (
    MANAGE,
    READY_BASE_SECONDS,
    READY_SECONDS_PER_PAGE,
    Plan,
    Unmeasured,
    child_env,
    free_port,
    login_cookie,
    measured,
    percentile,
    ratio,
    scratch_config,
    section,
    simulator,
    unmeasured,
    wait_for,
)

KEYS = (
    "live_rate_per_s",
    "commit_p50_ms",
    "commit_p99_ms",
    "live_p50_ms",
    "live_p99_ms",
    "live_delivered_ratio",
    "fanout_msgs_per_s",
    "fanout_offered_per_s",
)
LIVE_RATE = 2000  # insights/s offered during the live section, at most
# ... and at most this share of the ingest rate measured in the same run: a fixed rate would
# make the live figures a measure of the host (a slow one cannot keep up with 2,000/s).
LIVE_SHARE_OF_INGEST = 0.25
LIVE_WARM_UP = 3.0  # seconds before the live section starts measuring
LIVE_GRACE = 2.0  # seconds after it for what was sent in time to arrive
PAGE_P99_LIMIT_MS = 500.0  # ... keeping up: page p99 at or under this, every update delivered


def live_rate(ingest_per_s: float | None) -> tuple[int, str]:
    """The live section's rate: LIVE_RATE, or a share of the ingest figure when lower."""
    if ingest_per_s is None:
        return LIVE_RATE, f"{LIVE_RATE}/s (ingest was not measured)"
    share = int(ingest_per_s * LIVE_SHARE_OF_INGEST)
    if share < LIVE_RATE:
        return max(share, 1), f"{LIVE_SHARE_OF_INGEST:.0%} of the ingest figure"
    return LIVE_RATE, f"{LIVE_RATE}/s (below {LIVE_SHARE_OF_INGEST:.0%} of the ingest figure)"


def max_live_rate(figures: dict, sqlite, plan: Plan, *, log) -> dict:
    """The highest rate at which the review pages keep up (page p99 <= PAGE_P99_LIMIT_MS
    and every update delivered), found by doubling from the offered rate (or halving, if it
    did not keep up) and then halving the interval, one live run per step; and that rate
    as a share of the receive ceiling."""
    keys = ("live_max_rate_per_s", "live_max_rate_ratio")
    if plan.rate_steps <= 0:
        return unmeasured(keys, "skipped (--rate-steps 0)")
    ceiling = figures.get("ceiling_receive_per_s")
    good, bad = None, None
    if keeps_up(figures):
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
            step = section("live", KEYS, sqlite, sim_url, plan, log=log, runs=1)
        if keeps_up(step):
            good = rate
        else:
            bad = rate
    if good is None:
        why = f"the pages did not keep up even at {bad} insights/s"
        return unmeasured(keys, why)
    return {
        "live_max_rate_per_s": good,
        **measured("live_max_rate_ratio", ratio(good, ceiling), "no receive ceiling"),
    }


def keeps_up(live: dict) -> bool:
    p99, delivered = live.get("live_p99_ms"), live.get("live_delivered_ratio")
    return p99 is not None and p99 <= PAGE_P99_LIMIT_MS and (delivered or 0) >= 0.99


def measure(sim_url: str, plan: Plan) -> dict:
    """`serve` on this scratch database with the simulator at the live rate, and the plan's
    logged-in review pages: commit and page latencies, and the updates the pages get."""
    from streams.models import StreamConfig, StreamStatus

    connection, matrix = scratch_config(sim_url)
    stream = StreamConfig.objects.create(
        name="live", connection=connection, confidence_matrix=matrix, enabled=True
    )
    StreamStatus.objects.get_or_create(stream=stream)  # no resume point: live events only
    cookie = login_cookie()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(MANAGE), "serve", "--no-simulator", "--port", str(port)],
        env=child_env(),
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", server, "manage.py serve")
        figures, seen = with_commit_poller(lambda: asyncio.run(measure_live([port], cookie, plan)))
    finally:
        server.terminate()
        server.wait(30)
    return commit_figures(figures, seen, plan)


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
        **measured("commit_p50_ms", percentile(committed, 50), why),
        **measured("commit_p99_ms", percentile(committed, 99), why),
        **figures,
    }


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


async def measure_live(ports: list[int], cookie: str, plan: Plan) -> dict:
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
        await pages_ready(tasks, ready, ready_within)
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
        **measured("live_p50_ms", percentile(live, 50), why),
        **measured("live_p99_ms", percentile(live, 99), why),
        **measured(
            "live_delivered_ratio",
            round(len(live) / expected, 4) if expected else None,
            nothing_sent,
        ),
        "fanout_msgs_per_s": round(delivered / seconds, 1),
        "fanout_offered_per_s": round(len(window) * len(pages) / seconds, 1),
    }


async def pages_ready(tasks: list[asyncio.Task], ready: list[asyncio.Event], within: float):
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


def poll_commits() -> dict[int, float]:
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
