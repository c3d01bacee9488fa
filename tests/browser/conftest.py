import os

import pytest

from tests.conftest import chromium_path, need

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module: its event loop must be gone before async tests run."""
    path = chromium_path()
    need(path is not None, "Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls that tests
    # make between browser steps are still plain synchronous code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def log_in(page, live_server, username, password="pw"):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


def search(page, text, matches=1):
    """Find items by their text, as an officer does, and wait until the page shows exactly
    the `matches` rows holding it (not the page from before the search); then leave the
    search box, so the keys act on the queue again."""
    page.fill("input[name=search]", text)
    page.wait_for_function(
        """([text, matches]) => {
            const rows = [...document.querySelectorAll("#queue tbody tr")];
            return rows.length === matches && rows.every((row) => row.textContent.includes(text));
        }""",
        arg=[text, min(matches, 50)],
    )
    page.keyboard.press("Escape")
