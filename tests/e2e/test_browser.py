"""Real Chromium: the pages load, work by keyboard, and break no CSP rule."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def watched_page(page):
    """A page that records console errors (CSP violations show up there)."""
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    return page


def test_the_home_page_loads_with_no_console_errors(live_server, watched_page):
    page = watched_page
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("EC2 instance a role")
    expect(page.get_by_role("link", name="Start the lab")).to_be_visible()
    assert page.errors == []


def test_a_keyboard_user_reaches_their_sandbox_and_copies_the_keys(
    live_server, sandbox_server, watched_page
):
    page = watched_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(live_server.url + "/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Open your sandbox":
            break
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/sandbox/$"))
    expect(page.get_by_test_id("account-id")).to_have_text(re.compile(r"^\d{12}$"), timeout=10_000)
    env = page.locator("#sandbox-env")
    expect(env).to_contain_text("export AWS_ACCESS_KEY_ID=AKIA")

    copy = page.locator("[data-copy-target=sandbox-env]")
    copy.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#announcer")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == env.text_content()
    assert page.errors == []


def test_reset_from_the_page_confirms_in_words(live_server, sandbox_server, page):
    page.goto(live_server.url + "/sandbox/")
    expect(page.get_by_test_id("account-id")).to_be_visible(timeout=10_000)
    page.get_by_role("button", name="Reset my sandbox").click()
    expect(page.get_by_role("status").first).to_contain_text("Your sandbox is empty again")
