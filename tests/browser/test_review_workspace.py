"""The review workspace at volume, in Chromium, against `serve` as `make demo` runs it: a
backlog of thousands paged to its end, views in the address, claims between two officers,
assignment, a decision that survives a reconnect, fix-and-approve, bulk decisions, and the
stream's health where officers work."""

import http.server
import json
import os
import re
import threading
import uuid
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import search
from tests.test_processes import demo_deployment

# The module sets up a backlog of thousands: more than the default per-test bound.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
SCREENSHOTS = os.environ.get("ASSISTGOV_SCREENSHOTS")
BACKLOG = 5000
DASH = "\u2013"  # the summary's en dash: "Items 1-50"
PASSWORDS = {"officer": "officer-demo-pass", "officer2": "officer2-demo-pass"}
PASSWORDS |= {"admin": "admin-demo-pass", "auditor": "auditor-demo-pass"}
# Generous: a bound against a hang on a busy machine, not a speed limit.
WAIT_MS = 60_000


class Receiver(http.server.ThreadingHTTPServer):
    """A training platform's webhook endpoint: keeps every body it is sent."""

    def __init__(self):
        self.bodies: list[dict] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(handler):
                length = int(handler.headers["Content-Length"])
                self.bodies.append(json.loads(handler.rfile.read(length)))
                handler.send_response(204)
                handler.end_headers()

            def log_message(handler, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def events(self, event_type: str) -> list[dict]:
        return [body["data"] for body in self.bodies if body["type"] == event_type]


# The demo's second officer (officer2) comes from demo_setup; the webhook receiver is ours.
SETUP = """
from streams.models import WebhookEndpoint
hook = WebhookEndpoint(name="trainer", url="{url}", events=["insight.approved", "insight.rejected"])
hook.set_secret("whsec_" + "A" * 44)
hook.save()
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    receiver = Receiver()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    with demo_deployment(
        tmp_path_factory.mktemp("workspace"),
        rate=0,
        setup=SETUP.format(url=url),
        STREAMS_POLICY_BACKOFF_SECONDS="5",
        WEBHOOK_POLL_SECONDS="0.2",
    ) as deployment:
        deployment.receiver = receiver
        # A fresh subscription starts at the live end: emit once the stream's is acknowledged.
        deployment.wait_for(lambda: sim_stats(deployment)["subscribed"] >= 1, "a subscription")
        emit(deployment, BACKLOG, insight_type="script")
        deployment.wait_for(
            lambda: count(deployment, "insight_type = 'script'") == BACKLOG, "the backlog stored"
        )
        yield deployment
    receiver.shutdown()


def sim_stats(demo) -> dict:
    return httpx.get(demo.simulator + "/_sim/stats", timeout=30).json()


def emit(demo, n, **event):
    body = {"count": n, "event": event}
    httpx.post(demo.simulator + "/_sim/emit", json=body, timeout=60).raise_for_status()


def emit_text(demo, text, n=1, **event):
    emit(demo, n, insight_type="compliance_flag", content={"text": text}, **event)
    demo.wait_for(lambda: count(demo, "snippet = ?", text) == n, f"{n} insight(s) stored")


def count(demo, where, *params):
    return demo.query(f"SELECT count(*) FROM streams_insight WHERE {where}", params)[0][0]  # noqa: S608


def holder(demo, insight_id):
    rows = demo.query(
        "SELECT u.username FROM streams_insight i LEFT JOIN auth_user u ON u.id = i.claimed_by_id "
        "WHERE i.id = ?",
        (insight_id,),
    )
    return rows[0][0]


def log_in(page, demo, username, path="/review/"):
    page.set_default_timeout(WAIT_MS)
    page.goto(demo.base + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORDS[username])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/review/"))
    if path != "/review/":
        page.goto(demo.base + path)
    page.wait_for_selector("#connection.live")
    page.locator("#queue-summary", has_text=re.compile(r"Items|Nothing|item")).wait_for()


def summary(page):
    return page.locator("#queue-summary").inner_text()


def row_ids(page):
    return [
        int(k.split(":")[1])
        for k in page.locator("#queue tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.key)"
        )
    ]


def test_paging_reaches_the_last_page_of_the_backlog_and_counts_it(page, demo):
    log_in(page, demo, "officer", "/review/?insight_type=script")
    assert summary(page).startswith(f"Items 1{DASH}50 of {BACKLOG:,}")
    page.click(".pager button[data-page=last]")
    page.locator("#queue-summary", has_text=f"Items {BACKLOG - 49:,}{DASH}{BACKLOG:,}").wait_for()
    assert page.locator("#queue tbody tr").count() == 50
    assert "last=1" in page.url
    assert page.locator(".pager button[data-page=next]").is_disabled()
    page.keyboard.press("[")  # back one page from the end
    page.locator(
        "#queue-summary", has_text=f"Items {BACKLOG - 99:,}{DASH}{BACKLOG - 50:,}"
    ).wait_for()


def test_a_view_is_restored_from_its_address(page, demo, browser):
    log_in(page, demo, "officer", "/review/?insight_type=script&sort=newest")
    page.keyboard.press("]")
    page.locator("#queue-summary", has_text=f"Items 51{DASH}100").wait_for()
    shared = page.url
    shown = row_ids(page)
    other = browser.new_context().new_page()
    log_in(other, demo, "officer2", shared.removeprefix(demo.base))
    other.locator("#queue-summary", has_text=f"Items 51{DASH}100").wait_for()
    assert row_ids(other) == shown
    assert other.locator("select[name=sort]").input_value() == "newest"
    assert other.locator("select[name=insight_type]").input_value() == "script"
    other.context.close()


# A socket that never opens: whatever the page shows came with its HTML.
NO_SOCKET = """
window.WebSocket = class { constructor() {} addEventListener() {} send() {} close() {} };
window.WebSocket.OPEN = 1;
"""


def test_the_first_rows_come_with_the_page_before_any_socket(page, demo, browser):
    log_in(page, demo, "officer", "/review/?insight_type=script&sort=newest")
    page.keyboard.press("]")
    page.locator("#queue-summary", has_text=f"Items 51{DASH}100").wait_for()
    address, shown = page.url, row_ids(page)
    context = browser.new_context()
    context.add_init_script(NO_SOCKET)
    other = context.new_page()
    other.set_default_timeout(WAIT_MS)
    other.goto(demo.base + "/login/")
    other.fill("#id_username", "officer2")
    other.fill("#id_password", PASSWORDS["officer2"])
    other.click("button[type=submit]")
    other.wait_for_url(re.compile(r"/review/"))
    other.goto(address)
    other.locator("#queue-summary", has_text=f"Items 51{DASH}100").wait_for()
    assert row_ids(other) == shown
    assert other.locator("#connection").inner_text() == "connecting…"
    context.close()


def test_two_officers_never_get_each_others_claims_and_expiry_frees_them(page, demo, browser):
    log_in(page, demo, "officer", "/review/?insight_type=script&sort=-confidence")
    page.keyboard.press("c")
    page.locator(".toast", has_text="20 item(s) are yours").wait_for()
    second = browser.new_context().new_page()
    log_in(second, demo, "officer2", "/review/?insight_type=script&sort=-confidence")
    second.keyboard.press("c")
    second.locator(".toast", has_text="20 item(s) are yours").wait_for()
    first_ids = {i for i in row_ids(page)[:20] if holder(demo, i) == "officer"}
    second_ids = {i for i in row_ids(second)[:40] if holder(demo, i) == "officer2"}
    assert len(first_ids) == 20 and len(second_ids) == 20
    assert not first_ids & second_ids
    # The second officer sees whose the others are, and until when.
    second.locator(
        "#queue tbody tr td.status", has_text="Claimed by officer until"
    ).first.wait_for()
    # An officer's claims that ran out are free again, first in the queue's order.
    demo.query(
        "UPDATE streams_insight SET claimed_until = '2000-01-01 00:00:00' "
        "WHERE claimed_by_id = (SELECT id FROM auth_user WHERE username = 'officer')"
    )
    second.keyboard.press("c")
    second.locator(".toast", has_text="20 item(s) are yours").nth(1).wait_for()
    assert {holder(demo, i) for i in first_ids} == {"officer2"}
    if SCREENSHOTS:
        second.set_viewport_size({"width": 1440, "height": 900})
        second.keyboard.press("j")
        second.locator("#context .history").wait_for()
        second.evaluate("document.querySelectorAll('.toast').forEach((t) => t.remove())")
        second.screenshot(path=str(Path(SCREENSHOTS) / "review.png"))
        phone = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
        log_in(phone, demo, "officer", "/review/?insight_type=script")
        phone.screenshot(path=str(Path(SCREENSHOTS) / "review-phone.png"))
        phone.context.close()
    second.context.close()


def test_a_lead_assigns_items_to_an_officer(page, demo):
    log_in(page, demo, "admin", "/review/?insight_type=script&sort=oldest")
    picked = row_ids(page)[:3]
    for _ in range(3):
        page.keyboard.press("x")
        page.keyboard.press("j")
    page.locator("#bulk-summary", has_text="3 selected").wait_for()
    page.click("#assign-open")
    page.select_option("#assign-form select[name=to]", label="officer")
    page.click("#assign-form button[value=assign]")
    page.locator(".toast", has_text="3 item(s) assigned to officer").wait_for()
    assert [holder(demo, i) for i in picked] == ["officer"] * 3
    ((assigner,),) = demo.query(
        "SELECT u.username FROM streams_insight i "
        "JOIN auth_user u ON u.id = i.claim_assigned_by_id WHERE i.id = ?",
        (picked[0],),
    )
    assert assigner == "admin"


def test_a_decision_typed_while_reconnecting_is_applied_exactly_once(page, demo):
    text = f"Reconnect check {uuid.uuid4().hex[:8]}"
    emit_text(demo, text)
    drop = {"next_decided": True}

    def route(ws):
        server = ws.connect_to_server()

        def from_server(message):
            if drop["next_decided"] and '"type": "decided"' in message:
                # The server decided, but the answer is lost with the connection: the page
                # must send the decision again, and the server must not decide twice.
                drop["next_decided"] = False
                ws.close()
                return
            ws.send(message)

        server.on_message(from_server)
        ws.on_message(lambda message: server.send(message))

    page.route_web_socket(re.compile(r".*/ws/review/$"), route)
    log_in(page, demo, "officer")
    search(page, text)
    page.keyboard.press("a")
    page.locator(".toast", has_text="approved (sent again after the reconnect").wait_for()
    ((status, decisions),) = demo.query(
        "SELECT review_status, (SELECT count(*) FROM audit_auditentry a "
        "WHERE a.action = 'insight.approve' AND a.object_id = CAST(i.id AS TEXT)) "
        "FROM streams_insight i WHERE snippet = ?",
        (text,),
    )
    assert (status, decisions) == ("approved", 1)
    assert not drop["next_decided"], "the connection was dropped after the decision"


def test_fix_and_approve_sends_the_correction_and_the_csv_has_both_texts(page, demo):
    text = f"Offer the 30 day refund {uuid.uuid4().hex[:8]}"
    fixed = text.replace("30 day", "14-day")
    emit_text(demo, text)
    log_in(page, demo, "officer")
    search(page, text)
    page.keyboard.press("e")
    page.fill("#correction", fixed)
    page.keyboard.press("Escape")
    page.keyboard.press("a")
    page.locator("#queue tbody tr.corrected", has_text=fixed).wait_for()

    def sent():
        return [e for e in demo.receiver.events("insight.approved") if e["snippet"] == text]

    demo.wait_for(sent, "the webhook")
    (sent,) = sent()
    assert sent["corrected_text"] == fixed
    csv_text = page.request.get(demo.base + "/export/decisions.csv").text()
    (line,) = [line for line in csv_text.splitlines() if text in line]
    assert fixed in line


def all_sixty_selected(page, demo, what: str) -> tuple[str, str]:
    """60 new items with one text, found and every one of them selected, as an officer."""
    marker = uuid.uuid4().hex[:8]
    text = f"{what} {marker}: duplicate alert"
    emit_text(demo, text, n=60)
    log_in(page, demo, "officer")
    search(page, marker, matches=60)
    page.locator("#queue-summary", has_text="of 60").wait_for()
    boxes = page.locator("#queue tbody tr td.pick input")
    boxes.first.click()
    boxes.last.click(modifiers=["Shift"])
    page.click("#select-all-matching")
    page.locator("#bulk-summary", has_text="All 60 pending items").wait_for()
    return marker, text


def test_a_bulk_reject_of_all_matching_decides_each_one(page, demo):
    marker, text = all_sixty_selected(page, demo, "Bulk check")
    page.select_option("#bulk-reason", "duplicate")
    page.click("#bulk-reject")
    # More than the page shown: the number is typed before Yes can be pressed.
    assert page.locator("#confirm-yes").is_disabled()
    page.fill("#confirm-input", "60")
    page.click("#confirm-yes")
    page.locator(".toast", has_text="60 rejected (").wait_for()
    assert page.input_value("#bulk-reason") == ""  # chosen again for the next bulk
    # The page stays where it was, its 50 rows there and marked decided (nothing moves).
    page.locator("#queue tbody tr.status-rejected").nth(49).wait_for()
    assert page.locator("#queue tbody tr").count() == 50
    assert count(demo, "snippet = ? AND review_status = 'rejected'", text) == 60
    entries = demo.query(
        "SELECT count(*) FROM audit_auditentry WHERE action = 'insight.reject' AND object_id IN "
        "(SELECT CAST(id AS TEXT) FROM streams_insight WHERE snippet = ?)",
        (text,),
    )
    assert entries == [(60,)]
    demo.wait_for(
        lambda: (
            len([e for e in demo.receiver.events("insight.rejected") if marker in e["snippet"]])
            == 60
        ),
        "60 webhooks",
    )


def test_the_health_banner_shows_a_refused_stream_until_it_is_back(page, demo):
    log_in(page, demo, "officer")
    banner = page.locator("#health")
    assert banner.is_hidden()
    fault = {"action": "close", "code": 1008, "reason": "org suspended"}
    httpx.post(demo.simulator + "/_sim/faults", json=fault).raise_for_status()
    banner.wait_for(state="visible")
    words = banner.inner_text()
    assert "demo-insights is stopped by an error since" in words
    assert "1008: org suspended" in words and "retrying at" in words
    banner.wait_for(state="hidden")  # reconnected after the policy wait


def test_enter_on_a_bulk_confirmation_decides_nothing(page, demo):
    marker, text = all_sixty_selected(page, demo, "Enter check")
    page.click("#bulk-approve")
    dialog = page.locator("#confirm")
    dialog.wait_for()
    assert "Approve 60 items?" in dialog.inner_text()
    assert "webhooks" in page.inner_text("#confirm-effects")
    # The box has the focus; Enter with the wrong number, or none, does not confirm.
    page.keyboard.press("Enter")
    page.keyboard.type("6")
    page.keyboard.press("Enter")
    assert dialog.is_visible() and page.locator("#confirm-yes").is_disabled()
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    # A selection within the page: Cancel has the focus, so Enter cancels.
    page.reload()
    search(page, marker, matches=60)
    page.locator("#queue tbody tr td.pick input").first.click()
    page.locator("#bulk-summary", has_text="1 selected").wait_for()
    page.click("#bulk-approve")
    dialog.wait_for()
    assert page.evaluate("document.activeElement.id") == "confirm-no"
    page.keyboard.press("Enter")
    dialog.wait_for(state="hidden")
    # Then that one approved on purpose: decisions are handled in order, so once it is
    # done anything Enter had sent would be too.
    page.click("#bulk-approve")
    page.click("#confirm-yes")
    page.locator(".toast", has_text="1 approved.").wait_for()
    assert count(demo, "snippet = ? AND review_status = 'pending'", text) == 59


OVERLAPS = """(row) => {
  const boxes = [...row.querySelectorAll("td")]
    .filter((td) => td.offsetParent !== null && td.textContent.trim() !== "")
    .map((td) => {
      // The text's own extent: text that overflows its cell is where it is drawn.
      const range = document.createRange();
      range.selectNodeContents(td);
      return [td.className || td.cellIndex, range.getBoundingClientRect()];
    });
  const found = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, r] = boxes[i];
      const [b, s] = boxes[j];
      const across = r.left < s.right - 1 && s.left < r.right - 1;
      if (across && r.top < s.bottom - 1 && s.top < r.bottom - 1) {
        found.push(`${a} over ${b}`);
      }
    }
  }
  return found;
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_claimed_row_on_a_phone_holds_every_label_without_overlap(browser, demo, scheme):
    """At 320 and 390 px, a claimed row's confidence, type, text and "Claimed by you until
    ..." each have their own place (the claim was drawn over the type)."""
    if count(demo, "insight_type = 'compliance_flag'") < 40:
        emit(demo, 40, insight_type="compliance_flag")  # a label of two words
        demo.wait_for(lambda: count(demo, "insight_type = 'compliance_flag'") >= 40, "flags")
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme=scheme)
    phone = context.new_page()
    log_in(phone, demo, "officer", "/review/?insight_type=compliance_flag")
    phone.keyboard.press("c")
    phone.locator(".toast", has_text="item(s) are yours").wait_for()
    claimed = phone.locator(
        "#queue tbody tr", has=phone.locator("td.status", has_text="Claimed by you")
    )
    claimed.first.wait_for()
    for width in (390, 320):
        phone.set_viewport_size({"width": width, "height": 844})
        for n in range(min(5, claimed.count())):
            assert claimed.nth(n).evaluate(OVERLAPS) == [], (width, scheme)
    context.close()


def test_a_view_is_saved_with_a_small_form_in_the_page(page, demo):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, demo, "officer", "/review/?insight_type=script&sort=-confidence")
    page.locator("details.filters-box").evaluate("(box) => { box.open = true; }")
    page.click("#save-view")
    form = page.locator("#save-view-dialog")
    form.get_by_label("Name").fill("Scripts, most confident first")
    form.get_by_role("button", name="Save").click()
    page.locator(".toast", has_text='View "Scripts, most confident first" saved.').wait_for()
    assert page.locator("#views option", has_text="Scripts, most confident first").count() == 1
    page.click("#save-view")
    form.get_by_label("Name").fill("Not this one")
    form.get_by_role("button", name="Cancel").click()
    assert page.locator("#views option", has_text="Not this one").count() == 0
    assert dialogs == []  # no prompt() or confirm() of the browser's own
