"""Real Chromium: step 4 does not pass after launch (nor after the lab clock issued the first
set), and passes once the learner's own curl in the page's terminal fetched the credentials."""

import re

import pytest
from playwright.sync_api import expect

from learnlab.gate.client import aws_client
from learnlab.imds.credentials import credentials_tick
from learnlab.sandbox.models import Sandbox
from tests.e2e.axe import axe_violations
from tests.helpers import launch_with_role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def _type(page, command: str, expected):
    """Type a command, press Enter, and wait for its own entry in the log."""
    entries = page.locator("#terminal-log .terminal-entry")
    count = entries.count()
    line = page.locator("#terminal-line")
    line.click()
    line.fill(command)
    line.press("Enter")
    expect(entries).to_have_count(count + 1, timeout=15_000)
    expect(entries.last).to_contain_text(expected)


def _check(page, number: int, outcome: str):
    page.get_by_role("button", name=f"Check step {number}").click()
    expect(page.get_by_test_id(f"check-{number}")).to_contain_text(outcome, timeout=15_000)


def test_step_4_waits_for_the_learners_curl_in_the_page(live_server, sandbox_server, page):
    """Follows AWS's "Retrieve security credentials from instance metadata"
    (docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-metadata-security-credentials.html):
    IMDSv2's PUT for a token, then GET .../iam/security-credentials/role-name with it."""
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live_server.url + "/lab/instance-role/")
    sandbox = Sandbox.objects.get()
    instance_id = launch_with_role(sandbox, "app")
    aws_client("iam", sandbox=sandbox).attach_role_policy(RoleName="app", PolicyArn=S3_READ)
    credentials_tick()  # the clock's first issue, as the task cluster makes it after launch
    page.reload()

    _check(page, 4, "Not yet.")
    result = page.get_by_test_id("check-4")
    expect(result).to_contain_text(
        "Run curl http://169.254.169.254/latest/meta-data/iam/security-credentials/app on the "
        "instance"
    )
    # Checking step 4 checked steps 1 to 3 again: their results on the page are fresh.
    expect(page.get_by_test_id("check-3")).to_contain_text("Passed.")
    expect(page.locator("#lab-progress .is-passed")).to_have_count(3)

    page.locator("#step-4").get_by_role(
        "button", name=f"Connect the terminal to {instance_id}"
    ).click()
    expect(page.locator("#terminal-ps1")).to_contain_text("ec2-user@ip-")
    _type(
        page,
        'TOKEN=`curl -s -X PUT "http://169.254.169.254/latest/api/token" -H '
        '"X-aws-ec2-metadata-token-ttl-seconds: 21600"` && curl -s -H '
        '"X-aws-ec2-metadata-token: $TOKEN" '
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/app",
        '"Type" : "AWS-HMAC"',
    )
    log = page.locator("#terminal-log").text_content()
    key_id = re.findall(r'"AccessKeyId" : "(ASIA\w+)"', log)[-1]

    _check(page, 4, "Passed.")
    expect(result).to_contain_text(f"access key {key_id}")
    expect(result).to_contain_text(re.compile(r"at \d\d:\d\d:\d\d UTC"))
    expect(page.locator("#lab-progress .is-passed")).to_have_count(4)
    assert axe_violations(page) == []
    assert errors == []
