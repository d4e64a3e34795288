"""Real Chromium: the CLI way's first step as AWS's walkthrough writes it, a trust policy typed
as a here-document, line by line, then ``aws iam create-role ... file://...``; the in-page
editor, Tab completion and full screen, all by keyboard; axe clean on the pages touched.

Fidelity: IAM User Guide, "Use an IAM role to grant permissions to applications running on
Amazon EC2 instances" (id_roles_use_switch-role-ec2.html), whose CLI steps create the role with
``--assume-role-policy-document file://ec2-role-trust-policy.json``.
"""

import json
import re

import pytest
from playwright.sync_api import expect

from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from tests.e2e.axe import axe_violations

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _type(page, command: str, expected=None):
    """Type a line and press Enter; wait for its entry in the log (one line at a time, as a
    learner types)."""
    entries = page.locator("#terminal-log .terminal-entry")
    count = entries.count()
    line = page.locator("#terminal-line")
    line.fill(command)
    line.press("Enter")
    expect(entries).to_have_count(count + 1, timeout=15_000)
    if expected is not None:
        expect(page.locator("#terminal-log")).to_contain_text(expected, timeout=15_000)


def test_a_here_document_then_file_creates_the_role_and_the_check_sees_it(
    live_server, sandbox_server, page
):
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.goto(live_server.url + "/lab/instance-role/")
    expect(page.locator("#terminal-line")).to_be_visible()
    _type(page, "cat > ec2-role-trust-policy.json <<'EOF'")
    expect(page.locator("#terminal-ps1")).to_have_text(">", timeout=10_000)
    for text in json.dumps(json.loads(EC2_TRUST_POLICY), indent=2).splitlines():
        _type(page, text)
        expect(page.locator("#terminal-ps1")).to_have_text(">", timeout=10_000)
    _type(page, "EOF")
    expect(page.locator("#terminal-ps1")).to_have_text("[learner@workstation ~]$", timeout=10_000)
    _type(page, "ls -l", "ec2-role-trust-policy.json")

    # Tab completes the command and option names from the AWS CLI's own completer.
    line = page.locator("#terminal-line")
    line.fill("aws iam create-ro")
    line.press("Tab")
    expect(line).to_have_value("aws iam create-role ")
    line.press_sequentially("--assume-role-po")
    line.press("Tab")
    expect(line).to_have_value("aws iam create-role --assume-role-policy-document ")
    _type(
        page,
        "$ aws iam create-role --role-name S3ReadForEC2 "
        "--assume-role-policy-document file://ec2-role-trust-policy.json",
        '"RoleName": "S3ReadForEC2"',
    )
    page.get_by_role("button", name="Check step 1").click()
    expect(page.get_by_test_id("check-1")).to_contain_text(
        "has no permissions policy", timeout=10_000
    )

    # Full screen and back, by keyboard.
    full = page.get_by_role("button", name="Full screen")
    full.focus()
    full.press("Enter")
    expect(page.locator("#terminal")).to_have_class(re.compile("terminal-full"))
    box = page.locator("#terminal").bounding_box()
    assert box["width"] >= page.viewport_size["width"] - 1
    page.locator("#terminal-line").press("Escape")
    expect(page.locator("#terminal")).not_to_have_class(re.compile("terminal-full"))
    assert axe_violations(page) == []
    assert errors == []


def test_the_in_page_editor_saves_a_file_the_terminal_reads(live_server, sandbox_server, page):
    page.goto(live_server.url + "/lab/instance-role/")
    expect(page.locator("#terminal-line")).to_be_visible()
    page.get_by_role("link", name="Files").click()
    expect(page.get_by_role("heading", name="Your terminal's files")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_label("New file").fill("policy.json")
    page.get_by_label("New file").press("Enter")
    content = page.get_by_label("Contents")
    content.fill('{"Version": "2012-10-17"}')
    assert axe_violations(page) == []
    content.press("Tab")
    page.keyboard.press("Enter")  # Save, reached by keyboard
    expect(page.locator("#terminal-line")).to_be_visible()
    _type(page, "cat policy.json", '{"Version": "2012-10-17"}')

    page.goto(live_server.url + "/terminal/files/edit?name=../../etc/passwd")
    page.get_by_label("Contents").fill("x")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("not available in this lab")


def test_the_sandbox_page_makes_and_revokes_the_terminal_line(live_server, sandbox_server, page):
    page.goto(live_server.url + "/sandbox/")
    make = page.get_by_role("button", name="Make my terminal line")
    expect(make).to_be_visible(timeout=15_000)
    make.focus()
    make.press("Enter")
    expect(page.get_by_test_id("token-line")).to_contain_text("/sandbox/env?token=llsh_")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Revoke", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Revoked")).to_be_visible()
    expect(page.get_by_test_id("token-line")).to_have_count(0)
    assert axe_violations(page) == []
