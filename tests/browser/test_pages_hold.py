"""Every page, as each role meets it, at a phone's width, a desktop's and a wide
screen's: no horizontal scrolling of the page (a wide table scrolls in its own box) and no
serious or critical accessibility violation found by axe-core (WCAG 2.2 AA rules), in
light and dark mode."""

import re
from pathlib import Path

import pytest

from tests.test_processes import demo_deployment

# Every page at three widths: a bound against a hang on a busy machine, not a speed limit.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

WIDTHS = (390, 1440, 2560)
PAGES = {
    "officer": [
        "/review/",
        "/dashboard/",
        "/knowledge/",
        "/second-review/",
        "/account/",
        "/account/two-step/",
        "/audit/",  # refused: the error page
        "/no/such/page/",
        "/account/welcome/MQ/not-a-token/",  # an invitation link that no longer works
        "/admin/",
        "/admin/streams/insight/",
    ],
    "admin": [
        "/review/",
        "/dashboard/",
        "/knowledge/",
        "/audit/",
        "/audit/?category=all",  # folded system records
        "/audit/verify/",
        "/second-review/",
        "/adjudication/",
        "/account/",
        "/admin/audit/auditentry/",
        "/admin/audit/auditentry/{entry}/change/",
        "/admin/streams/confidencematrix/",
        "/admin/streams/confidencematrix/{matrix}/change/",  # its rules, inline
        "/admin/streams/insight/{insight}/change/",
        "/admin/audit/typelabel/",
        "/admin/streams/streamconfig/",
        "/admin/streams/knowledgequery/",
        "/admin/streams/changerequest/{change}/change/",  # with the accept / decline form
        "/evidence/",
        "/admin/audit/person/",
        "/admin/audit/person/add/",  # inviting someone
        "/admin/audit/person/{person}/change/",
        "/admin/streams/configversion/",
        "/admin/audit/incident/",
        "/admin/audit/trainingattestation/",
    ],
    "auditor": [
        "/review/",
        "/dashboard/",
        "/audit/",
        "/audit/?category=security",
        "/audit/verify/",
        "/admin/audit/auditentry/",
        "/admin/streams/changerequest/{change}/change/",
        "/admin/audit/secondreview/",
        "/evidence/",
    ],
    "dpo": [
        "/review/",
        "/dashboard/",
        "/account/",
        "/admin/audit/erasurerequest/",
        "/admin/streams/privacysettings/",
    ],
}
PASSWORDS = {role: f"{role}-demo-pass" for role in PAGES}
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def axe_script() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()


# A configuration change waiting for a second admin, so that its page is checked too.
CHANGE_REQUEST = """
from streams.config import changes
from streams.models import ConfidenceMatrix
matrix = ConfidenceMatrix.objects.first()
before = matrix.audit_snapshot()
entry = changes.change_entry(matrix, before, {**before, "default_weight": 0.7})
changes.change_request_create(kind="change", changes=[entry], author=None, source="pages test")
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with demo_deployment(
        tmp_path_factory.mktemp("demo"), rate=3, setup=CHANGE_REQUEST
    ) as deployment:
        deployment.wait_for(lambda: deployment.insights() >= 3, "the first insights")
        yield deployment


def log_in(page, demo, username):
    page.goto(demo.base + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORDS[username])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/review/$"))


def problems_on(page, url: str, width: int, script: str) -> list[str]:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(url)
    page.wait_for_load_state("load")
    if url.endswith("/review/"):
        # An item selected, its context loaded (the conversation, the rule, the history).
        page.locator("#queue tbody tr").first.click()
        page.wait_for_selector("#context p.rule")
    found = []
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    if overflow > 0:
        found.append(f"{url} at {width} px scrolls sideways by {overflow} px")
    return found + axe_findings(page, script, f"{url} at {width} px")


def axe_findings(page, script: str, where: str) -> list[str]:
    """Axe's serious and critical findings on the page as it is now."""
    page.evaluate(script)
    results = page.evaluate(
        """(tags) => axe.run(document, {
            runOnly: {type: "tag", values: tags}, resultTypes: ["violations"],
        })""",
        WCAG_AA,
    )
    found = []
    for violation in results["violations"]:
        if violation["impact"] in ("serious", "critical"):
            targets = [node["target"] for node in violation["nodes"][:3]]
            why = violation["nodes"][0].get("failureSummary", "").replace("\n", " ")
            found.append(f"{where}: {violation['id']} ({violation['help']}) {targets}: {why}")
    return found


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("role", sorted(PAGES))
def test_every_page_fits_the_window_and_passes_axe(browser, demo, role, scheme):
    ids = {
        "entry": demo.query("SELECT max(id) FROM audit_auditentry")[0][0],
        "matrix": demo.query("SELECT min(id) FROM streams_confidencematrix")[0][0],
        "insight": demo.query("SELECT min(id) FROM streams_insight")[0][0],
        "change": demo.query("SELECT min(id) FROM streams_changerequest")[0][0],
        "person": demo.query("SELECT id FROM auth_user WHERE username = 'officer'")[0][0],
    }
    context = browser.new_context(color_scheme=scheme)
    page = context.new_page()
    page.set_default_timeout(30_000)
    script = axe_script()
    try:
        log_in(page, demo, role)
        found = []
        for path in PAGES[role]:
            for width in WIDTHS:
                found += problems_on(page, demo.base + path.format(**ids), width, script)
    finally:
        context.close()
    assert not found, "\n".join(found)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_review_page_passes_axe_after_live_updates_and_a_search(browser, demo, scheme):
    """What arrives while the page is open (the new-items bar, the new rows marked, a toast)
    and a search's results hold as the page first drawn does."""
    import httpx

    context = browser.new_context(color_scheme=scheme)
    page = context.new_page()
    page.set_default_timeout(30_000)
    script = axe_script()
    try:
        log_in(page, demo, "officer")
        page.select_option("select[name=sort]", "newest")
        page.locator("#queue tbody tr").first.wait_for()
        event = {"insight_type": "compliance_flag", "content": {"text": "Live check: a new flag"}}
        httpx.post(demo.simulator + "/_sim/emit", json={"count": 2, "event": event})
        page.locator("#new-items:not([hidden])").wait_for()
        found = []
        for width in (390, 1440):
            found += problems_here(page, width, script, "with the new-items bar")
        page.click("#show-new")
        page.locator("#queue tbody tr.arrived").first.wait_for()
        for width in (390, 1440):
            found += problems_here(page, width, script, "with new rows marked")
        page.fill("input[name=search]", "live checks")
        page.locator("#queue tbody tr", has_text="Live check").first.wait_for()
        for width in (390, 1440):
            found += problems_here(page, width, script, "with search results")
    finally:
        context.close()
    assert not found, "\n".join(found)


def problems_here(page, width: int, script: str, what: str) -> list[str]:
    """Axe's findings on the review page as it is now, at `width`, without reloading."""
    page.set_viewport_size({"width": width, "height": 900})
    return axe_findings(page, script, f"review page {what} at {width} px")
