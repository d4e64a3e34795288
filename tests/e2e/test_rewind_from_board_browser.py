"""Real Chromium: the instructor rewinds a learner from the live board with the keyboard (the
row's Rewind link, the steps page, the confirm page), and the learner's open lab page says so
by itself."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.axe import axe_violations
from tests.e2e.classroom_setup import open_class

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def board(live_server, sandbox_server, browser):
    context, page = open_class(browser, live_server, "Rewind lab")
    yield page
    context.close()


def test_the_instructor_rewinds_a_learner_from_the_board_with_the_keyboard(
    board, browser, live_server
):
    code = board.get_by_test_id("join-code").text_content().strip()
    context = browser.new_context()
    ann = context.new_page()
    ann.goto(live_server.url + "/class/")
    ann.get_by_label("Class code").fill(code)
    ann.get_by_label("Your name").fill("Ann")
    ann.get_by_role("button", name="Join the class").click()
    form = ann.locator("#console-role_for_ec2")
    form.get_by_label("Role name").fill("ann-role")
    form.get_by_label("AmazonS3ReadOnlyAccess").check()
    form.get_by_role("button", name="Create role").click()
    expect(ann.get_by_test_id("console-done")).to_be_visible()
    for number in (1, 2):
        ann.get_by_role("button", name=f"Check step {number}").click()
        expect(ann.get_by_test_id(f"check-{number}")).to_contain_text("Passed.")

    expect(board.get_by_test_id("passed-2")).to_have_text("1", timeout=10_000)
    # From the row's Reset link, Tab reaches Rewind; Enter opens the steps page.
    board.get_by_role("link", name="Reset Ann's sandbox").focus()
    board.keyboard.press("Tab")
    rewind = board.get_by_role("link", name="Rewind Ann's sandbox")
    expect(rewind).to_be_focused()
    board.keyboard.press("Enter")
    expect(board.get_by_role("heading", level=1)).to_have_text("Rewind Ann's sandbox")
    step_2 = board.get_by_label(re.compile(r"^Step 2: "))
    step_2.focus()
    board.keyboard.press("Space")
    expect(step_2).to_be_checked()
    assert axe_violations(board) == []
    board.get_by_role("button", name="Continue").click()
    expect(board.get_by_role("heading", level=1)).to_have_text("Rewind Ann to just before step 2?")
    assert axe_violations(board) == []
    board.get_by_test_id("rewind-confirm").focus()
    board.keyboard.press("Enter")
    expect(board.get_by_test_id("board")).to_be_visible()
    expect(board.get_by_role("main")).to_contain_text("sandbox is as it was just before step 2")
    expect(board.get_by_test_id("passed-2")).to_have_text("0", timeout=10_000)
    expect(board.get_by_test_id("passed-1")).to_have_text("1")

    # Ann's open lab page polls its class area: the notice arrives with no reload.
    expect(ann.get_by_test_id("rewind-notice")).to_contain_text(
        "Your instructor (ada) rewound your sandbox", timeout=10_000
    )
    expect(ann.get_by_test_id("rewind-notice")).to_contain_text("just before step 2")
    context.close()
