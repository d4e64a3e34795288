"""The terminal in real Chromium: by keyboard alone, with history, continuation lines and clear;
no CSP violation, no axe-core finding."""

import pytest
from playwright.sync_api import expect

from tests.e2e.axe import axe_violations

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_keyboard_user_runs_commands_recalls_them_and_clears(live_server, sandbox_server, page):
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live_server.url + "/terminal/")
    line = page.get_by_label("[learner@workstation ~]$ command")
    line.focus()
    log = page.get_by_role("log")

    page.keyboard.type("aws sts get-caller-identity --query Arn --output text")
    page.keyboard.press("Enter")
    expect(log).to_contain_text(":user/learnlab", timeout=10_000)
    expect(line).to_have_value("")
    expect(line).to_be_focused()

    page.keyboard.type("echo one \\")
    page.keyboard.press("Enter")  # a trailing backslash continues the command
    page.keyboard.type("two")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("echo three")
    page.keyboard.press("Enter")
    expect(log).to_contain_text("one two\nthree", timeout=10_000)

    page.keyboard.press("ArrowUp")
    expect(line).to_have_value("echo one \\\ntwo\necho three")
    page.keyboard.press("ArrowDown")
    expect(line).to_have_value("")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")  # a recalled command is stepped over whole
    expect(line).to_have_value("aws sts get-caller-identity --query Arn --output text")

    line.fill("clear")
    page.keyboard.press("Enter")
    expect(log).to_have_text("", timeout=10_000)
    assert axe_violations(page) == []
    assert errors == []
