"""Real Chromium: the demo host page (127.0.0.1) embeds the whole instance-role lab from another
origin (localhost), and the learner finishes every step inside the frame: step 1 with the console
form, the others in the frame's terminal (the instance's shell and curl to its metadata service
included), with no cookie reaching LearnLab. The host page receives ``step.passed`` for each step
and ``lab.completed`` once, also when the last step is checked again and after a reload.

(A host page fulfilled by Playwright itself cannot frame a loopback LearnLab: Chromium's Local
Network Access checks block it, so the host is LearnLab's own demo host under the other name.)"""

import json
import re
import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from learnlab.labs.catalog import lab_get
from learnlab.learners.models import Learner

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
LAB = lab_get("instance-role")
PROFILE = "S3ReadForEC2"
CREDENTIALS = f"http://169.254.169.254/latest/meta-data/iam/security-credentials/{PROFILE}"


def _origins(live_server) -> tuple[str, str]:
    """(the host page's origin, LearnLab's): one server, two names, two origins."""
    port = urlsplit(live_server.url).port
    return f"http://127.0.0.1:{port}", f"http://localhost:{port}"


class Terminal:
    """The frame's terminal, typed into as a learner types."""

    def __init__(self, frame):
        self.frame = frame
        self.entries = frame.locator("#terminal-log .terminal-entry")

    def run(self, line: str, timeout: float = 30_000) -> str:
        before = self.entries.count()
        box = self.frame.locator("#terminal-line")
        box.fill(line)
        box.press("Enter")
        expect(self.entries).to_have_count(before + 1, timeout=timeout)
        return self.entries.nth(before).inner_text()


def _check(frame, number: int, *, passed: bool = True):
    frame.get_by_role("button", name=f"Check step {number}", exact=True).click()
    said = "Passed." if passed else "Not yet."
    expect(frame.get_by_test_id(f"check-{number}")).to_contain_text(said, timeout=30_000)


def _key_id(output: str) -> str:
    return json.loads(output[output.index("{") :])["AccessKeyId"]


def test_the_whole_lab_is_finished_inside_a_cross_site_frame(
    live_server, sandbox_server, page, settings, ticker
):
    host, tool = _origins(live_server)
    settings.LEARNLAB_EMBED_ORIGINS = [host]
    settings.LEARNLAB_CLOCK_SPEED = 360  # a renewal every 10 s
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    requests = []
    page.on("request", lambda r: r.url.startswith(tool) and requests.append(r))
    page.goto(f"{host}/embed/demo-host?whole=1")
    frame = page.frame_locator("#learnlab-frame")
    heading = frame.get_by_role("heading", name="Step 6: Watch them rotate")
    expect(heading).to_be_visible(timeout=30_000)
    events = page.locator("#learnlab-events li")
    expect(page.locator("#learnlab-events [data-event='embed.ready']")).to_have_count(1)

    # Step 1 the console way: the open Create role form, in the frame.
    console = frame.locator("#console-role_for_ec2")
    console.get_by_label("Role name").fill(PROFILE)
    console.get_by_label("AmazonS3ReadOnlyAccess").check()
    console.get_by_role("button", name="Create role").click()
    expect(frame.get_by_test_id("console-done")).to_contain_text(PROFILE, timeout=30_000)
    _check(frame, 1)

    # Steps 2 to 6 the CLI way, in the frame's terminal.
    terminal = Terminal(frame)
    assert "Roles" in terminal.run("aws iam list-roles")
    # Create role made the profile already; the CLI way's calls see it.
    assert PROFILE in terminal.run("aws iam list-instance-profiles")
    _check(frame, 2)
    launched = terminal.run(
        "aws ec2 run-instances --image-id ami-0453ec754f44f9a4a --instance-type t3.micro "
        f"--iam-instance-profile Name={PROFILE}"
    )
    instance = re.search(r'"InstanceId": "(i-[0-9a-f]{17})"', launched)[1]
    _check(frame, 3)
    assert f"Connected to {instance}" in terminal.run(f"connect {instance}")
    expect(frame.locator("#terminal-ps1")).to_contain_text("ec2-user@")
    assert PROFILE in terminal.run(
        "curl http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    )
    first = _key_id(terminal.run(f"curl -s {CREDENTIALS}"))
    assert first.startswith("ASIA")
    _check(frame, 4)
    assert f"assumed-role/{PROFILE}/{instance}" in terminal.run("aws sts get-caller-identity")
    _check(frame, 5)
    _check(frame, 6, passed=False)  # one set seen: no renewal yet
    deadline = time.monotonic() + 60
    while _key_id(terminal.run(f"curl -s {CREDENTIALS}")) == first:
        assert time.monotonic() < deadline, "no renewal in 60 s at speed 360"
        page.wait_for_timeout(2000)
    _check(frame, 6)

    # The host heard each step pass, and the lab complete once.
    completed = page.locator("#learnlab-events [data-event='lab.completed']")
    expect(completed).to_have_count(1)
    passed = page.locator("#learnlab-events [data-event='step.passed']")
    assert {passed.nth(i).get_attribute("data-step") for i in range(passed.count())} == {
        s.slug for s in LAB.steps
    }
    said = completed.inner_text()
    assert json.loads(said[said.index("{") :]) == {
        "source": "learnlab",
        "type": "lab.completed",
        "lab": "instance-role",
        "step": "watch-rotation",
        "steps": len(LAB.steps),
    }
    # Checking the finished lab again passes the step again but completes nothing again.
    count = events.count()
    _check(frame, 6)
    expect(events).to_have_count(count + 1)
    expect(completed).to_have_count(1)

    # A reload keeps the learner (the token in the frame's address) and shows the instance's
    # live credentials panel; a Check after it completes nothing again either.
    frame_page = next(f for f in page.frames if f.url.startswith(tool))
    frame_page.goto(frame_page.url)
    expect(frame.get_by_test_id("check-6")).to_contain_text("Passed.")
    expect(frame.get_by_test_id("key-id")).to_have_text(re.compile(r"^ASIA"), timeout=30_000)
    expect(frame.locator("#credentials-panel form")).to_be_hidden()  # the instance page's own
    _check(frame, 6)
    expect(page.locator("#learnlab-events [data-event='embed.ready']")).to_have_count(2)
    expect(completed).to_have_count(1)

    assert Learner.objects.count() == 1  # one learner throughout, never one per request
    # No request from the frame carried a cookie (all_headers: what went on the wire).
    cookies_sent = [r.url for r in requests if "cookie" in r.all_headers()]
    assert len(requests) > 30 and cookies_sent == [], cookies_sent[:3]
    relayed = [r for r in requests if "/embed/relay/" in r.url]
    assert {urlsplit(r.url).path for r in relayed} >= {
        "/embed/relay/terminal/run",
        "/embed/relay/lab/instance-role/console/role_for_ec2",
        f"/embed/relay/sandbox/instances/{instance}/credentials",
    }
    assert errors == []
