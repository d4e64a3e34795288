"""Real Chromium walks the lab's first three steps, the console way and the CLI way."""

import re

import pytest
from playwright.sync_api import expect

from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from tests.e2e.axe import axe_violations

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def lab(live_server, sandbox_server, page):
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live_server.url + "/lab/instance-role/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Give an EC2 instance a role")
    page.errors = errors
    return page


def _check(page, number: int, outcome: str = "Passed."):
    page.get_by_role("button", name=f"Check step {number}").click()
    expect(page.get_by_test_id(f"check-{number}")).to_contain_text(outcome, timeout=10_000)


def _create_role_in_the_console(page, name: str):
    form = page.locator("#console-role_for_ec2")
    form.get_by_label("Role name").fill(name)
    form.get_by_label("AmazonS3ReadOnlyAccess").check()
    form.get_by_role("button", name="Create role").click()
    expect(page.get_by_test_id("console-done")).to_contain_text(
        f"also created instance profile {name}"
    )


def test_the_console_way_walks_steps_1_to_3(lab):
    page = lab
    _check(page, 1, "Not yet.")
    _create_role_in_the_console(page, "S3ReadForEC2")
    expect(page.locator("#console-role_for_ec2")).to_contain_text(
        "aws iam create-instance-profile --instance-profile-name S3ReadForEC2"
    )
    _check(page, 1)
    _check(page, 2)
    expect(page.get_by_test_id("diagram-text")).to_contain_text("Instance profile S3ReadForEC2")

    launch = page.locator("#console-launch_instance")
    launch.locator("summary").click()
    # The profile made a moment ago is offered without a reload: profiles, not roles.
    launch.get_by_label("IAM instance profile").select_option("S3ReadForEC2")
    launch.get_by_role("button", name="Launch instance").click()
    expect(launch.get_by_test_id("console-done")).to_contain_text("with profile S3ReadForEC2")
    expect(launch).to_contain_text("--iam-instance-profile Name=S3ReadForEC2")
    _check(page, 3)
    expect(page.get_by_test_id("diagram-text")).to_contain_text(re.compile(r"i-[0-9a-f]+"))
    expect(page.locator("#lab-progress .is-passed")).to_have_count(3)
    assert axe_violations(page) == []
    assert page.errors == []


def test_a_console_mistake_gets_its_message_and_a_fix_in_the_console(lab):
    page = lab
    form = page.locator("#console-role_for_ec2")
    form.get_by_label("Role name").fill("lambda-role")
    form.get_by_label("Trust policy").fill(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
        '"Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
    )
    form.get_by_role("button", name="Create role").click()
    expect(page.get_by_test_id("console-done")).to_be_visible()
    _check(page, 1, "Not yet.")
    expect(page.get_by_test_id("check-1")).to_contain_text("lambda.amazonaws.com, a different")

    trust = page.locator("#console-role_trust")
    trust.locator("summary").click()
    trust.get_by_label("Role").select_option("lambda-role")
    # The fields reload for the chosen role; typing before they are back would be overwritten.
    fields = trust.locator(".console-fields")
    expect(fields).to_have_attribute("data-refresh-url", re.compile("lambda-role"))
    expect(fields).not_to_have_attribute("aria-busy", "true")
    policy = trust.get_by_label("Trust policy")
    expect(policy).to_have_value(re.compile("lambda.amazonaws.com"))  # the role's own document
    policy.fill(EC2_TRUST_POLICY)
    trust.get_by_role("button", name="Update policy").click()
    expect(trust.get_by_test_id("console-done")).to_contain_text("Trust policy of lambda-role")
    _check(page, 1, "Not yet.")
    expect(page.get_by_test_id("check-1")).to_contain_text("has no permissions policy")


def test_a_learner_resumes_at_the_same_step_with_the_same_sandbox(lab, browser, live_server):
    page = lab
    _create_role_in_the_console(page, "resume-me")
    _check(page, 1)
    _check(page, 2)
    state = page.context.storage_state()
    page.context.close()

    later = browser.new_context(storage_state=state)
    again = later.new_page()
    again.goto(live_server.url + "/lab/instance-role/")
    expect(again.locator('#lab-progress [aria-current="step"]')).to_contain_text("Attach")
    expect(again.locator("#lab-progress .is-passed")).to_have_count(2)
    expect(again.get_by_test_id("check-2")).to_contain_text("Passed.")
    expect(again.get_by_test_id("diagram-text")).to_contain_text("Role resume-me")
    later.close()
