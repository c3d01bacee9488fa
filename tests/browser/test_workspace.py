"""The compliance workspace in Chromium, against `serve` (web, worker, simulator) as it runs
in `make demo`. Set ASSISTGOV_SCREENSHOTS=docs/screenshots to refresh the README's pictures."""

import os
import re
import uuid
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import search
from tests.test_processes import demo_deployment

pytestmark = pytest.mark.browser
SCREENSHOTS = os.environ.get("ASSISTGOV_SCREENSHOTS")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with demo_deployment(tmp_path_factory.mktemp("demo"), rate=3) as deployment:
        deployment.wait_for(lambda: deployment.insights() >= 3, "the first insights")
        yield deployment


def emit(demo, text, confidence=0.3, insight_type="compliance_flag"):
    event = {"insight_type": insight_type, "confidence": confidence, "content": {"text": text}}
    httpx.post(demo.simulator + "/_sim/emit", json={"count": 1, "event": event}).raise_for_status()


def log_in(page, demo, username, password):
    page.goto(demo.base + "/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/review/$"))
    page.wait_for_selector("#connection.live")


def select_by_keyboard(page, text):
    """From the top of the queue (lowest confidence), j until the insight is selected."""
    for _ in range(10):
        page.keyboard.press("k")
    for _ in range(60):
        if text in page.locator("#selected").inner_text():
            return
        page.keyboard.press("j")
    raise AssertionError(f"{text!r} not reached with j")


def status_of(demo, text):
    rows = demo.query(
        "SELECT review_status, review_note FROM streams_insight WHERE snippet = ?", (text,)
    )
    return rows[0] if rows else None


def test_an_officer_approves_a_live_insight_from_the_keyboard_and_finds_it_in_the_csv(page, demo):
    log_in(page, demo, "officer", "officer-demo-pass")
    text = f"Browser check {uuid.uuid4().hex[:8]}: disclosure not read"
    page.locator("#queue tbody tr").first.wait_for()
    emit(demo, text)
    page.locator("#new-items:not([hidden])").wait_for()  # counted, not pushed into the page
    search(page, text)
    select_by_keyboard(page, text)
    page.keyboard.press("n")
    page.keyboard.type("checked in the browser")
    page.keyboard.press("Escape")
    done = int(page.inner_text("#count-done").replace(",", "") or 0)
    assert page.inner_text("#count-queue") == "1"  # the search's one pending item
    page.keyboard.press("a")
    row = page.locator("#queue tbody tr", has_text=text)
    row.locator("td.status", has_text="Approved by you").wait_for()  # confirmed, in place
    assert status_of(demo, text) == ("approved", "checked in the browser")
    # The tabs count it at once, from the decision's answer (not the next read of figures).
    assert page.inner_text("#count-queue") == "0"
    assert page.inner_text("#count-done").replace(",", "") == str(done + 1)

    csv_text = page.request.get(demo.base + "/export/decisions.csv").text()
    (line,) = [line for line in csv_text.splitlines() if text in line]
    assert ",approved," in line and ",officer," in line


def test_new_items_are_said_where_they_go_and_marked_when_shown(page, demo):
    log_in(page, demo, "officer", "officer-demo-pass")
    marker = uuid.uuid4().hex[:8]
    page.select_option("select[name=sort]", "newest")
    page.locator("#queue tbody tr").first.wait_for()
    # Only these three match (the stream goes on beside them, and an automatic knowledge
    # answer may quote them): each announced when stored.
    page.select_option("select[name=insight_type]", "compliance_flag")
    page.fill("input[name=search]", marker)
    page.locator("#queue-summary", has_text="Nothing matches").wait_for()
    for n in range(3):
        emit(demo, f"Arrival check {marker} {n}")
    bar = page.locator("#new-items:not([hidden])", has_text="3 new items match")
    bar.wait_for(timeout=60_000)  # stored, then announced at the next flush
    assert "They are at the top of the queue." in bar.inner_text()
    page.click("#show-new")
    page.locator(".toast", has_text="3 of the 3 new items are on this page, marked new").wait_for()
    for n in range(3):  # every one of them on the first page of newest first, marked
        row = page.locator("#queue tbody tr", has_text=f"Arrival check {marker} {n}")
        assert "arrived" in row.get_attribute("class")
        assert (
            row.locator("td.status")
            .evaluate("td => getComputedStyle(td, '::after').content")
            .endswith('new"')
        )
    page.select_option("select[name=sort]", "confidence")
    page.locator("#queue tbody tr.arrived").first.wait_for(state="detached")  # a new page
    assert page.locator("#queue tbody tr", has_text=marker).count() == 3


def test_a_search_finds_other_forms_of_its_words_best_match_first(page, demo):
    log_in(page, demo, "officer", "officer-demo-pass")
    marker = uuid.uuid4().hex[:8]
    emit(demo, f"Search check {marker}: the customer lost two cards")
    emit(demo, f"Search check {marker}: card card card, a card lost again")
    page.fill("input[name=search]", f"{marker} cards lost")
    assert page.input_value("select[name=sort]") == "relevance"  # ranked while searching
    page.wait_for_function(
        """(marker) => {
            const rows = [...document.querySelectorAll("#queue tbody tr")];
            return rows.length === 2 && rows.every((row) => row.textContent.includes(marker));
        }""",
        arg=marker,
    )
    first = page.locator("#queue tbody tr").first
    assert "card card card" in first.inner_text()
    page.fill("input[name=search]", "")
    assert page.input_value("select[name=sort]") == "confidence"  # back to the queue's order


def test_an_html_payload_renders_as_text(page, demo):
    log_in(page, demo, "officer", "officer-demo-pass")
    marker = uuid.uuid4().hex[:8]
    payload = (
        f"<img src=x onerror=\"window.hacked='{marker}'\"><script>window.hacked='{marker}'</script>"
    )
    emit(demo, payload)
    demo.wait_for(lambda: status_of(demo, payload) is not None, "the insight stored")
    search(page, marker)
    cell = page.locator("#queue td.snippet", has_text=marker).first
    assert cell.inner_text().startswith(payload)
    assert page.locator("#queue img").count() == 0
    assert page.evaluate("window.hacked") is None


def test_an_auditor_can_read_but_not_decide(page, demo):
    text = f"Auditor check {uuid.uuid4().hex[:8]}"
    emit(demo, text)
    demo.wait_for(lambda: status_of(demo, text) is not None, "the insight stored")
    log_in(page, demo, "auditor", "auditor-demo-pass")
    search(page, text)
    assert page.locator("#decide").is_hidden()
    assert page.locator("#claim").count() == 0
    select_by_keyboard(page, text)
    page.keyboard.press("a")
    page.locator(".toast", has_text="Your role cannot decide insights.").wait_for()
    assert status_of(demo, text) == ("pending", "")


def test_an_auditor_reads_people_s_actions_first_and_checks_the_chain(page, demo):
    """The trail opens on what people did (the worker's records are counted, not shown),
    filters by category, and the chain check is a button away."""
    demo.wait_for(
        lambda: (
            demo.query("SELECT count(*) FROM audit_auditentry WHERE action = 'stream.run_start'")[
                0
            ][0]
            >= 1
        ),
        "the stream's start in the trail",
    )
    log_in(page, demo, "auditor", "auditor-demo-pass")
    page.click("header nav a[href='/audit/']")
    page.wait_for_url(demo.base + "/audit/")
    page.locator("#hidden-count", has_text="system record").wait_for()
    assert page.locator("#trail", has_text="Signed in").count() == 1
    assert page.locator("#trail", has_text="Stream worker started it").count() == 0
    page.select_option("select[name=category]", "system")
    page.click("#trail-filters button[type=submit]")
    page.wait_for_url(re.compile(r"category=system"))
    page.locator("#trail", has_text="Stream worker started it").first.wait_for()
    assert page.locator("#trail", has_text="Signed in").count() == 0
    page.goto(demo.base + "/audit/")
    if SCREENSHOTS:
        page.set_viewport_size({"width": 1440, "height": 900})
        page.screenshot(path=str(Path(SCREENSHOTS) / "audit-trail.png"))
    page.click("#chain button[type=submit]")
    page.locator("#chain-status", has_text="The hash chain is intact").wait_for()
    checks = demo.query("SELECT actor_label FROM audit_auditentry WHERE action = 'audit.verify'")
    assert ("auditor",) in checks


def test_the_dashboard_shows_charts_and_live_stream_health(page, demo):
    log_in(page, demo, "admin", "admin-demo-pass")
    people_decided = demo.query(
        "SELECT count(*) FROM streams_insight WHERE reviewed_by_id IS NOT NULL"
    )[0][0]
    page.goto(demo.base + "/dashboard/")
    # Per type and by outcome; approval rate by confidence once people have decided.
    assert page.locator("svg.chart").count() == (3 if people_decided else 2)
    if not people_decided:
        page.get_by_text("No decisions by people in this window yet").wait_for()
    page.get_by_text("The same figures as a table").click()
    assert page.locator("details.as-table tbody tr").count() >= 1
    page.locator("#health-updated", has_text="updated").wait_for()
    assert page.locator("#stream-health td.state-connected").inner_text() == "Connected"
    assert page.locator("#knowledge-health td.knowledge-on").count() >= 1
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / "dashboard.png"), full_page=True)


def test_an_officer_searches_knowledge_and_sees_ranked_and_filtered_results(page, demo):
    log_in(page, demo, "officer", "officer-demo-pass")
    page.click("header nav a[href='/knowledge/']")
    page.wait_for_url(demo.base + "/knowledge/")
    page.fill("input[name=query]", "refund for an unopened item within the return window")
    page.click("main form button[type=submit]")
    summary = page.locator("#knowledge-summary").inner_text()
    assert re.search(r"(PASS|FILTERED): \d+ of 5 results passed", summary), summary
    reasons = page.locator("#filtered li .error").all_inner_texts()
    assert page.locator("#passed li").count() >= 1
    assert all("below the threshold" in r or "days" in r or "lastUpdated" in r for r in reasons)
    rows = demo.query(
        "SELECT origin, results_returned FROM streams_knowledgequery WHERE origin = 'console'"
    )
    assert rows == [("console", 5)]
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / "knowledge.png"), full_page=True)


def test_an_insights_knowledge_answer_joins_the_queue_and_an_officer_approves_it(page, demo):
    """The demo's knowledge stream searches every knowledge recommendation's text; what the
    agent was given waits in the same queue, with the results that passed."""
    log_in(page, demo, "officer", "officer-demo-pass")
    page.select_option("select[name=insight_type]", "knowledge.answer")
    marker = uuid.uuid4().hex[:8]
    text = f"Refund for an unopened item within the return window {marker}"
    emit(demo, text, confidence=0.9, insight_type="knowledge_recommendation")
    page.locator("#new-items:not([hidden])").wait_for()  # searched by the worker, announced
    search(page, marker)
    row = page.locator("#queue tbody tr.kind-knowledge", has_text=marker)
    select_by_keyboard(page, marker)
    panel = page.locator("#selected")
    assert "Knowledge answer" in panel.inner_text()
    assert panel.locator("ol.results li").count() >= 1
    assert "automatically, for an insight" in panel.inner_text()
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / "review-knowledge.png"))
    page.keyboard.press("a")
    row.locator("td.status", has_text="Approved by you").wait_for()
    ((status, origin, conversation),) = demo.query(
        "SELECT review_status, origin, conversation_id FROM streams_knowledgequery "
        "WHERE query_text = ?",
        (text,),
    )
    assert (status, origin) == ("approved", "insight")
    ((interaction,),) = demo.query(
        "SELECT interaction_id FROM streams_insight WHERE snippet = ?", (text,)
    )
    assert conversation == interaction


ADMIN_PAGES = [
    "/review/",
    "/dashboard/",
    "/knowledge/",
    "/audit/",
    "/audit/?category=all",
    "/audit/verify/",
    "/admin/",
    "/admin/streams/insight/",
    "/admin/streams/streamconfig/",
    "/admin/streams/streamconfig/1/change/",
    "/admin/streams/genesysconnection/add/",
    "/admin/streams/confidencematrix/1/change/",
    "/admin/streams/knowledgestream/1/change/",
    "/admin/streams/webhookendpoint/add/",
    "/admin/audit/auditentry/",
    "/admin/audit/auditentry/1/change/",
    "/admin/axes/accessattempt/",
]


def test_no_page_breaks_the_content_security_policy(page, demo):
    """Every script and style the pages use is allowed by the policy: nothing inline."""
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    log_in(page, demo, "admin", "admin-demo-pass")
    for path in ADMIN_PAGES:
        response = page.goto(demo.base + path)
        assert response.ok, (path, response.status)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        page.wait_for_load_state("load")
    assert refused == [], refused


def test_server_and_script_write_a_time_zone_the_same_way(page, demo):
    """One format: the team card (written by the server) and the stream health line (written
    by the page's script) both say CET for a person in Paris, not CET and GMT+1."""
    log_in(page, demo, "auditor", "auditor-demo-pass")
    page.goto(demo.base + "/account/")
    page.select_option("#id_time_zone", "Europe/Paris")
    page.get_by_role("button", name="Save").click()
    page.locator("p.ok", has_text="Saved").wait_for()
    page.goto(demo.base + "/dashboard/")
    page.locator("#health-updated", has_text="updated").wait_for()
    written_by_script = page.locator("#health-updated").inner_text()
    written_by_server = page.locator("#team-today h2 small").inner_text()
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} CET$", written_by_script), written_by_script
    assert written_by_server.endswith(" CET"), written_by_server
