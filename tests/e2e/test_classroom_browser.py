"""One instructor and three learners in real Chromium: join by code, pass steps, a live board."""

import pytest
from playwright.sync_api import expect

from tests.e2e.axe import axe_violations
from tests.e2e.classroom_setup import open_class

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def instructor_page(live_server, sandbox_server, browser):
    context, page = open_class(browser, live_server, "Tuesday lab")
    yield page
    context.close()


def _join(browser, live_server, code: str, name: str):
    context = browser.new_context()
    page = context.new_page()
    page.goto(live_server.url + "/class/")
    page.get_by_label("Class code").fill(code.lower())
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Join the class").click()
    expect(page.get_by_test_id("class-banner")).to_contain_text("Tuesday lab")
    return page


def _pass_step_1(page, role: str):
    form = page.locator("#console-role_for_ec2")
    form.get_by_label("Role name").fill(role)
    form.get_by_label("AmazonS3ReadOnlyAccess").check()
    form.get_by_role("button", name="Create role").click()
    expect(page.get_by_test_id("console-done")).to_be_visible()
    page.get_by_role("button", name="Check step 1").click()
    expect(page.get_by_test_id("check-1")).to_contain_text("Passed.")


def test_learners_join_by_code_and_the_board_follows_them_live(
    instructor_page, browser, live_server
):
    board = instructor_page
    code = board.get_by_test_id("join-code").text_content().strip()
    learners = {name: _join(browser, live_server, code, name) for name in ("Ann", "Bo", "Cy")}

    expect(board.get_by_test_id("board").locator("tbody tr")).to_have_count(3, timeout=10_000)
    board.evaluate("window.scrollTo(0, 120)")
    board.evaluate("document.documentElement.dataset.marker = 'same page'")

    _pass_step_1(learners["Ann"], "ann-role")
    _pass_step_1(learners["Bo"], "bo-role")
    learners["Bo"].get_by_role("button", name="Check step 2").click()
    expect(learners["Bo"].get_by_test_id("check-2")).to_contain_text("Passed.")
    learners["Cy"].get_by_role("button", name="Check step 1").click()  # nothing built: fails
    expect(learners["Cy"].get_by_test_id("check-1")).to_contain_text("Not yet.")

    # The board catches up by itself: no reload (the page's marker would be gone).
    expect(board.get_by_test_id("passed-1")).to_have_text("2", timeout=10_000)
    expect(board.get_by_test_id("passed-2")).to_have_text("1")
    expect(board.get_by_test_id("row-Cy")).to_contain_text("no role yet")
    assert board.evaluate("window.scrollY") == 120
    assert board.evaluate("document.documentElement.dataset.marker") == "same page"
    assert axe_violations(board) == []

    # Both Cy and Bo's shared mistake shows grouped; reveal its hint from the panel.
    _fail_step_1(learners["Ann"], live_server)
    # The class clock is the instructor's: the learner's clock form is replaced.
    board.get_by_label("Rotation").select_option("paused")
    board.get_by_role("button", name="Set clock").click()
    expect(board.get_by_test_id("class-clock-state")).to_contain_text("paused since")
    expect(learners["Cy"].get_by_test_id("class-banner")).to_contain_text(
        "paused by your instructor", timeout=10_000
    )

    # A hint reaches an open page (no reload) and says who opened it.
    learners["Cy"].evaluate("document.documentElement.dataset.marker = 'open'")
    board.get_by_label("Step", exact=True).select_option(index=0)
    board.get_by_role("button", name="Reveal hint").click()
    expect(learners["Cy"].get_by_test_id("class-hint")).to_contain_text(
        "opened by ada", timeout=10_000
    )
    assert learners["Cy"].evaluate("document.documentElement.dataset.marker") == "open"

    # Reset asks first, naming the learner, then can be undone for a minute.
    board.get_by_role("link", name="Reset Ann's sandbox").click()
    expect(board.get_by_role("heading", level=1)).to_have_text("Reset Ann's sandbox?")
    board.get_by_role("button", name="Reset Ann's sandbox").click()
    expect(board.get_by_role("status").first).to_contain_text("Ann has an empty sandbox")
    ann = learners["Ann"]
    expect(ann.get_by_test_id("reset-notice")).to_contain_text("reset your sandbox", timeout=10_000)
    ann.reload()
    expect(ann.get_by_test_id("diagram-text")).to_contain_text("Role: not yet")
    board.get_by_role("button", name="Undo reset of Ann").click()
    expect(board.get_by_role("status").first).to_contain_text("Undone: Ann")
    ann.reload()
    expect(ann.get_by_test_id("diagram-text")).not_to_contain_text("Role: not yet")
    assert axe_violations(board) == []
    for page in learners.values():
        page.context.close()


def _fail_step_1(page, live_server):
    """Create a role with no permissions policy and check: the class's common mistake."""
    form = page.locator("#console-role_for_ec2")
    form.get_by_label("Role name").fill("lonely-role")
    form.get_by_role("button", name="Create role").click()
    expect(page.get_by_test_id("console-done")).to_be_visible()
