"""The explain pages in a real Chromium, axe clean (WCAG rules as axe-core checks them): the
trace opened from the terminal's Explain link, the chain debugger, explain this error."""

import json

import pytest
from playwright.sync_api import expect

from learnlab.gate.client import aws_client
from learnlab.sandbox.models import Sandbox
from tests.e2e.axe import axe_violations
from tests.helpers import launch_with_role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_explain_pages_open_from_the_terminal_and_are_axe_clean(live_server, sandbox_server, page):
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live_server.url + "/terminal/")
    sandbox = Sandbox.objects.get()
    aws_client("iam", sandbox=sandbox).put_user_policy(
        UserName="learnlab",
        PolicyName="no-list",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "iam:ListRoles", "Resource": "*"},
                ],
            }
        ),
    )
    instance = launch_with_role(sandbox, "app")
    field = page.locator("#terminal-line")
    field.fill("aws iam list-roles")
    field.press("Enter")
    link = page.locator("a.terminal-explain").first
    expect(link).to_be_visible(timeout=15_000)
    link.click()
    expect(page.get_by_test_id("verdict")).to_contain_text("Explicit deny")
    assert axe_violations(page) == []

    page.goto(f"{live_server.url}/explain/instances/{instance}")
    expect(page.get_by_test_id("link-permissions")).to_have_attribute("data-ok", "false")
    assert axe_violations(page) == []

    page.goto(
        f"{live_server.url}/explain/errors/LimitExceeded?lab=instance-role&step=create-instance-profile"
    )
    expect(page.get_by_test_id("step-tie")).to_contain_text("step 2")
    assert axe_violations(page) == []

    page.goto(f"{live_server.url}/explain/instances/")
    assert axe_violations(page) == []
    page.goto(f"{live_server.url}/sandbox/")
    expect(page.get_by_test_id("recent-denials")).to_contain_text("iam:ListRoles")
    assert axe_violations(page) == []
    assert errors == []
