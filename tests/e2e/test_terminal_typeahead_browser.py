"""Real Chromium: a command typed and entered while another still runs in the in-page terminal
runs next, in order, as a shell runs typed-ahead lines; it is never dropped with the command
left unsent in the field (what made the CLI walk's curl line "never complete": its Enter came
while the IMDSv2 token line was still running). Enter again on the running command itself does
not run it twice. The network is slowed (400 ms a request) so the first line is still running.
"""

import pytest
from playwright.sync_api import expect

from learnlab.sandbox.models import Sandbox
from tests.helpers import launch_with_role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TOKEN_LINE = (
    'TOKEN=`curl -s -X PUT "http://169.254.169.254/latest/api/token" '
    '-H "X-aws-ec2-metadata-token-ttl-seconds: 21600"` && curl -s '
    '-H "X-aws-ec2-metadata-token: $TOKEN" '
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
)
PLAIN_LINE = "curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/app"


def _slow_network(page) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 400, "downloadThroughput": -1, "uploadThroughput": -1},
    )


def test_a_line_entered_while_another_runs_runs_next(live_server, sandbox_server, page):
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live_server.url + "/lab/instance-role/")
    line = page.locator("#terminal-line")
    expect(line).to_be_visible()
    instance_id = launch_with_role(Sandbox.objects.get(), "app")
    line.fill(f"connect {instance_id}")
    line.press("Enter")
    expect(page.locator("#terminal-ps1")).to_contain_text("ec2-user@ip-")
    entries = page.locator("#terminal-log .terminal-entry")
    count = entries.count()
    _slow_network(page)

    line.fill(TOKEN_LINE)
    line.press("Enter")
    line.press("Enter")  # the same, unchanged command: not a second run
    expect(page.locator("#terminal-log")).to_have_attribute("aria-busy", "true")
    line.fill(PLAIN_LINE)  # typed ahead while the token line runs
    line.press("Enter")

    expect(entries).to_have_count(count + 2, timeout=15_000)
    expect(entries.nth(count)).to_contain_text("security-credentials/\napp")
    expect(entries.nth(count + 1)).to_contain_text('"Type" : "AWS-HMAC"')
    expect(line).to_have_value("")
    expect(page.locator("#terminal-log")).to_have_attribute("aria-busy", "false")
    page.wait_for_timeout(1_000)  # nothing more arrives: the token line ran once
    expect(entries).to_have_count(count + 2)
    assert errors == []
