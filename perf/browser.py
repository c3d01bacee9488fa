"""The bench's browser section: the review workspace as an officer meets it, in Chromium
(Playwright, Debian's Chromium), over a backlog of pending items, with the live stream on.

- review_first_page_ms: from submitting the login form to the frame that paints the first
  rows, measured in the page, with where the time went (sign-in, HTML, the page's script)
  and the wall time the automation saw (review_first_page_wall_ms);
- review_page_next_ms: from "]" (next page) to the next page's rows, median of five;
- review_key_p95_ms: from pressing "a" to the row showing its confirmed decision ("Approved
  by you", once the server has it), p95 over the decisions made, measured in the page
  (a capturing keydown listener and a MutationObserver installed before the page's script);
- review_main_thread_busy: the share of wall time the page's main thread is busy while an
  officer works at a person's pace (a key every half second: move, approve) and the live
  stream runs, over BUSY_SECONDS (Chrome's TaskDuration metric, over CDP; nothing polls the
  page meanwhile, so the figure is the page's own work).
"""

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from perf.csvpages import fill
from perf.runner import (
    MANAGE,
    Unmeasured,
    child_env,
    free_port,
    measured,
    percentile,
    scratch_config,
    wait_for,
)

KEYS = (
    "review_first_page_ms",
    "review_first_page_wall_ms",
    "review_first_page_sign_in_ms",
    "review_first_page_html_ms",
    "review_first_page_script_ms",
    "review_page_next_ms",
    "review_key_p95_ms",
    "review_main_thread_busy",
)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PAGE_WAIT_MS = 120_000  # a bound against a hang, not a speed target
BUSY_SECONDS = 10.0
KEY_EVERY = 0.5  # seconds between an officer's key presses

# Installed before the page's own script: when "a" is pressed, which row was selected and
# when; when that row first shows its confirmed decision, how long it took.
TIMING = """
window.__bench = { pressed: null, done: [] };
document.addEventListener("keydown", (event) => {
  if (event.key !== "a") return;
  const row = document.querySelector("#queue tr.selected");
  if (row) window.__bench.pressed = { key: row.dataset.key, at: performance.now() };
}, true);
new MutationObserver(() => {
  if (!window.__bench.rowsSeen && document.querySelector("#queue tbody tr")) {
    // In the frame about to be painted: the rows on screen.
    window.__bench.rowsSeen = true;
    requestAnimationFrame(() => { window.__bench.firstRows = performance.now(); });
  }
  const pressed = window.__bench.pressed;
  if (!pressed) return;
  const status = document.querySelector(`#queue tr[data-key="${pressed.key}"] td.status`);
  if (status && status.textContent.startsWith("Approved by")) {
    window.__bench.done.push(performance.now() - pressed.at);
    window.__bench.pressed = null;
  }
}).observe(document, { subtree: true, childList: true, characterData: true });
"""


def measure(sim_url: str, plan) -> dict:
    """(In a child, on its scratch database.) The backlog, a live stream on the simulator,
    `serve` with them, and Chromium logged in as an officer."""
    from django.contrib.auth.models import Group, User

    from streams.models import StreamConfig, StreamStatus

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise Unmeasured("Chromium is not installed (apt-get install chromium)")
    fill(plan.backlog, decided_every=None)
    connection, matrix = scratch_config(sim_url, name="live")
    stream = StreamConfig.objects.create(
        name="live", connection=connection, confidence_matrix=matrix, enabled=True
    )
    StreamStatus.objects.get_or_create(stream=stream)
    password = uuid.uuid4().hex
    officer = User.objects.create_user("bench-officer", password=password, is_staff=True)
    officer.groups.add(Group.objects.get(name="Compliance officers"))
    port = free_port()
    # As in production: DEBUG off, the static files gathered first (WhiteNoise serves them).
    with tempfile.TemporaryDirectory(prefix="assistgov-static-") as static:
        env = {**child_env(), "STATIC_ROOT": static}
        manage = [sys.executable, str(MANAGE)]
        subprocess.run([*manage, "collectstatic", "--noinput", "-v0"], env=env, check=True)
        server = subprocess.Popen(
            [*manage, "serve", "--no-simulator", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        try:
            wait_for(f"http://127.0.0.1:{port}/healthz", server, "manage.py serve")
            return _in_chromium(chromium, f"http://127.0.0.1:{port}", password, plan.decisions)
        finally:
            server.terminate()
            server.wait(60)


def _in_chromium(chromium: str, base: str, password: str, decisions: int) -> dict:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise Unmeasured("Playwright is not installed (pip install playwright)") from None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.set_default_timeout(PAGE_WAIT_MS)
            page.add_init_script(TIMING)
            figures = _first_page(page, base, password)
            figures["review_page_next_ms"] = _next_pages(page)
            figures.update(_decisions(page, decisions))
            figures["review_main_thread_busy"] = _busy_share(page)
            return figures
        finally:
            browser.close()


def _first_page(page, base: str, password: str) -> dict:
    """Sign-in to first rows as the page lived it: from the sign-in form's submit (where the
    review page's navigation starts: the POST, then the redirect to it) to the frame that
    paints its first rows; where that time went: the sign-in (the POST, the password's check
    included), the review page's HTML (its request to its last byte), and the page's own
    work until the rows are on screen; and the wall time Playwright saw, from its click to
    its noticing the rows (its own delays included)."""
    page.goto(base + "/login/")
    page.fill("#id_username", "bench-officer")
    page.fill("#id_password", password)
    started = time.perf_counter()
    page.click("button[type=submit]")
    page.wait_for_selector("#queue tbody tr")
    elapsed = (time.perf_counter() - started) * 1000
    page.wait_for_selector("#connection.live")
    trace = page.evaluate(FIRST_PAGE_TRACE)
    figures = {"review_first_page_wall_ms": round(elapsed, 1)}
    for key, part in TRACE_PARTS.items():
        value = trace[part]
        figures[key] = round(value, 1) if value is not None else None
        if value is None:
            figures[f"{key}_why"] = "the browser gave no timing for it"
    return figures


# Where the first page's time went: the navigation's timing and the first rows' frame
# (noted by TIMING's observer).
TRACE_PARTS = {
    "review_first_page_ms": "rows",
    "review_first_page_sign_in_ms": "sign_in",
    "review_first_page_html_ms": "html",
    "review_first_page_script_ms": "script",
}
FIRST_PAGE_TRACE = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const rows = window.__bench.firstRows;
  const signedIn = nav.redirectEnd || nav.fetchStart;
  return {
    rows: rows !== undefined ? rows - nav.startTime : null,
    sign_in: nav.redirectEnd ? nav.redirectEnd - nav.startTime : null,
    html: nav.responseEnd - signedIn,
    script: rows !== undefined ? rows - nav.responseEnd : null,
  };
}"""


FIRST_ROW = "() => (document.querySelector('#queue tbody tr') || {dataset: {}}).dataset.key"


def _next_pages(page, pages: int = 5) -> float:
    """Each page is on screen when its first row is another than the page before's (the
    live stream moves the counts, not the rows shown)."""
    samples = []
    for _ in range(pages):
        shown = page.evaluate(FIRST_ROW)
        started = time.perf_counter()
        page.keyboard.press("]")
        page.wait_for_function(f"(shown) => ({FIRST_ROW})() !== shown", arg=shown, polling=5)
        samples.append((time.perf_counter() - started) * 1000)
    shown = page.evaluate(FIRST_ROW)
    page.keyboard.press("[")  # back one page, where every item is still pending
    page.wait_for_function(f"(shown) => ({FIRST_ROW})() !== shown", arg=shown, polling=10)
    return round(statistics.median(samples), 1)


def _decisions(page, decisions: int) -> dict:
    """`decisions` approvals from the keyboard, the page turned when it has no pending row
    left; each timed in the page, from the key to the confirmed row."""
    for n in range(decisions):
        _next_pending(page)
        page.keyboard.press("a")
        page.wait_for_function("(n) => window.__bench.done.length > n", arg=n, polling=50)
    times = page.evaluate("() => window.__bench.done")
    p95 = percentile(times, 95)
    why = f"{len(times)} decision(s) timed; a p95 needs two or more"
    return measured("review_key_p95_ms", p95, why)


def _next_pending(page) -> None:
    """The selection on a pending row: the next page when this one has none left."""
    pending = "#queue tr.selected.status-pending:not(.sending)"
    if not page.evaluate(f"() => !!document.querySelector('{pending}')"):
        page.keyboard.press("]")
        page.wait_for_selector(pending)


def _busy_share(page) -> float:
    """The main thread's busy share while an officer moves and approves at a person's pace
    and the live stream runs."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    _next_pending(page)
    before, started = _task_seconds(cdp), time.perf_counter()
    presses = 0
    while time.perf_counter() - started < BUSY_SECONDS:
        page.keyboard.press("a" if presses % 2 else "j")
        presses += 1
        time.sleep(KEY_EVERY)
    wall = time.perf_counter() - started
    return round((_task_seconds(cdp) - before) / wall, 3)


def _task_seconds(cdp) -> float:
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return metrics["TaskDuration"]
