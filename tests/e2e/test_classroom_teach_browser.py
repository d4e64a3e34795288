"""An instructor and three learners in real Chromium, on the instructor's authority (issue 17):
the class clock overrides a learner's own choice (a forged POST included), a pause holds a set
past its renewal time and resuming renews it once, and the board's common-mistakes panel
groups two learners' same failed check, its hint reaching a third learner's open lab page."""

import json
import re
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from learnlab.classroom.models import Classroom
from learnlab.classroom.services import instructor_grant
from learnlab.imds.models import InstanceCredentials
from learnlab.imds.services import endpoint_for
from learnlab.sandbox.models import Sandbox
from tests.e2e.axe import axe_violations
from tests.helpers import launch_with_role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "x-Secret-42!"
CLASS = "Thursday lab"
LEARNERS = ("Ann", "Bo", "Cy")
AT_360 = "360\N{MULTIPLICATION SIGN}"  # as the pages write a speed


@pytest.fixture
def make_class(live_server, sandbox_server, browser, fresh_cache):
    """The instructor's board and the learners' lab pages (joined by code), each in its own
    browser context."""
    contexts = []

    def make(names=LEARNERS):
        user = get_user_model().objects.create_user(username="ada", password=PASSWORD)
        instructor_grant(user=user)
        contexts.extend(browser.new_context() for _ in range(1 + len(names)))
        board = contexts[0].new_page()
        board.goto(live_server.url + "/accounts/login/?next=/class/teach/")
        board.get_by_label("Username").fill("ada")
        board.get_by_label("Password").fill(PASSWORD)
        board.get_by_role("button", name="Sign in").click()
        board.get_by_label("Class name").fill(CLASS)
        board.get_by_role("button", name="Create class").click()
        code = board.get_by_test_id("join-code").text_content().strip()
        learners = {}
        for name, context in zip(names, contexts[1:], strict=True):
            page = context.new_page()
            page.goto(live_server.url + "/class/")
            page.get_by_label("Class code").fill(code)
            page.get_by_label("Your name").fill(name)
            page.get_by_role("button", name="Join the class").click()
            expect(page.get_by_test_id("class-banner")).to_contain_text(CLASS)
            learners[name] = page
        rows = board.get_by_test_id("board").locator("tbody tr")
        expect(rows).to_have_count(len(names), timeout=10_000)
        return board, learners

    yield make
    for context in contexts:
        context.close()


def _sandbox(name: str) -> Sandbox:
    return Sandbox.objects.get(learner__memberships__display_name=name)


def _set_class_clock(board, *, speed: str, rotation: str) -> None:
    board.locator("#class-speed").select_option(speed)
    board.get_by_label("Rotation").select_option(rotation)
    board.get_by_role("button", name="Set clock").click()


def _served_key(live_server, sandbox: Sandbox, instance_id: str) -> dict:
    """What the instance's metadata service hands an application now, read with curl."""
    token = endpoint_for(sandbox=sandbox, instance_id=instance_id).token
    url = f"{live_server.url}/imds/{token}/latest/meta-data/iam/security-credentials/app"
    result = subprocess.run(["curl", "-sf", url], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_class_clock_overrides_a_learner_and_a_pause_holds_a_set_past_renewal(
    make_class, live_server, ticker
):
    """The class's clock is the instructor's, and a pause holds renewal but never a set's
    Expiration. Follows the Amazon EC2 User Guide, "Retrieve security credentials from
    instance metadata" (instance-metadata-security-credentials): the set an application reads
    from iam/security-credentials/<role> carries its own Expiration, and AWS rotates the sets,
    making a new one available before the old one expires."""
    board, learners = make_class()
    ann = learners["Ann"]
    _set_class_clock(board, speed="360", rotation="running")
    expect(board.get_by_test_id("class-clock-state")).to_contain_text(
        re.compile(AT_360 + r", rotation running; set by ada at \d\d:\d\d:\d\d UTC\.$")
    )
    sandbox = _sandbox("Ann")
    assert sandbox.clock_speed == 360 and not sandbox.rotation_paused
    instance_id = launch_with_role(sandbox)

    # "Your sandbox": no clock form of the learner's own.
    ann.goto(live_server.url + "/sandbox/")
    expect(ann.get_by_role("link", name=instance_id)).to_be_visible()
    assert ann.locator('form[action="/sandbox/clock"]').count() == 0
    assert ann.locator("#clock-speed").count() == 0

    # The credentials page: the class's setting and who set it, in place of the form.
    ann.get_by_role("link", name=instance_id).click()
    clock = ann.get_by_test_id("class-clock")
    expect(clock).to_contain_text(
        f"Set by your class, {CLASS}: {AT_360} real time, rotation running"
    )
    expect(clock).to_contain_text(re.compile(r"\(set by ada at \d\d:\d\d:\d\d UTC\)"))
    assert ann.locator('form[action="/sandbox/clock"]').count() == 0
    assert ann.locator("#clock-speed").count() == 0
    expect(ann.locator(".lede")).to_contain_text(f"{AT_360} real time")

    # A forged POST from Ann's own browser (her session, her CSRF token) changes nothing.
    with ann.expect_navigation():
        ann.evaluate(
            """() => {
                const form = document.createElement('form');
                form.method = 'post';
                form.action = '/sandbox/clock';
                const fields = {
                    csrfmiddlewaretoken:
                        document.querySelector('[name=csrfmiddlewaretoken]').value,
                    speed: '1',
                    next: location.pathname,
                };
                for (const [name, value] of Object.entries(fields)) {
                    const input = document.createElement('input');
                    input.type = 'hidden';
                    input.name = name;
                    input.value = value;
                    form.append(input);
                }
                document.body.append(form);
                form.submit();
            }"""
        )
    expect(ann.get_by_text("Your instructor sets this class's lab clock.")).to_be_visible()
    expect(ann.locator(".lede")).to_contain_text(f"{AT_360} real time")
    expect(clock).to_contain_text(f"{AT_360} real time")
    sandbox.refresh_from_db()
    assert sandbox.clock_speed == 360, "a learner's forged POST set the class's clock"
    assert axe_violations(ann) == []

    # The instructor pauses rotation while the page is open; the set current then is held.
    key = ann.get_by_test_id("key-id")
    _set_class_clock(board, speed="360", rotation="paused")
    expect(board.get_by_test_id("class-clock-state")).to_contain_text("rotation paused since")
    expect(ann.get_by_test_id("renewal-stopped")).to_contain_text(
        "Your instructor paused rotation", timeout=5_000
    )
    expect(ann.get_by_test_id("renews-in")).to_have_text("none: renewal has stopped")
    ann.wait_for_timeout(1_200)  # a tick begun before the pause has ended
    held = InstanceCredentials.objects.get(sandbox=sandbox, superseded_at=None)
    first = _served_key(live_server, sandbox, instance_id)
    assert first["AccessKeyId"] == held.access_key.access_key_id
    expect(key).to_have_text(first["AccessKeyId"])
    sets_at_pause = InstanceCredentials.objects.filter(sandbox=sandbox).count()
    expires_in = int(ann.get_by_test_id("expires-in").text_content().split()[0])
    ann.reload()
    expect(ann.get_by_test_id("class-clock")).to_contain_text("paused by your instructor")

    # Past the set's renewal time, with the lab clock ticking: the same set, still served.
    while timezone.now() <= held.renew_at + timedelta(seconds=2):
        time.sleep(0.25)
    ann.wait_for_timeout(1_500)  # a poll or two after it
    expect(key).to_have_text(first["AccessKeyId"])
    expect(ann.get_by_test_id("renews-in")).to_have_text("none: renewal has stopped")
    assert _served_key(live_server, sandbox, instance_id)["AccessKeyId"] == first["AccessKeyId"]
    held.refresh_from_db()
    assert held.superseded_at is None
    assert InstanceCredentials.objects.filter(sandbox=sandbox).count() == sets_at_pause
    # The pause holds the set's time left (its Expiration moves on with the pause), so the
    # page's countdown stands still and no SDK nears its refresh window.
    expect(ann.get_by_test_id("expires-in")).to_contain_text("held while paused")
    assert abs(int(ann.get_by_test_id("expires-in").text_content().split()[0]) - expires_in) <= 3
    assert expiration(first) > time.time()  # a pause never outlives the set here

    # Resume: one new set arrives on the open page, and the next renewal counts from now.
    resumed_at = timezone.now()
    _set_class_clock(board, speed="360", rotation="running")
    expect(board.get_by_test_id("class-clock-state")).to_contain_text("rotation running")
    expect(key).not_to_have_text(first["AccessKeyId"], timeout=10_000)
    expect(ann.locator("#announcer")).to_contain_text("New credentials arrived")
    second = key.text_content()
    expect(ann.get_by_test_id("renews-in")).to_have_text(re.compile(r"^\d+ s$"))
    ann.wait_for_timeout(2_000)  # no burst of the renewals missed during the pause
    fresh = InstanceCredentials.objects.get(sandbox=sandbox, superseded_at=None)
    assert fresh.access_key.access_key_id == second
    assert fresh.issued_at >= resumed_at and fresh.renew_at > timezone.now()
    assert InstanceCredentials.objects.filter(sandbox=sandbox).count() == sets_at_pause + 1
    assert Classroom.objects.get().clock_set_by == "ada"


def test_the_common_mistakes_panel_groups_two_learners_and_its_hint_reaches_an_open_page(
    make_class,
):
    """Two learners' roles with no permissions policy fail step 1 for one reason (their own
    role names aside); the third learner's open lab page gets the hint revealed from it."""
    board, learners = make_class()
    for name in ("Ann", "Bo"):
        page = learners[name]
        form = page.locator("#console-role_for_ec2")
        form.get_by_label("Role name").fill(f"{name.lower()}-web-role")
        form.get_by_role("button", name="Create role").click()
        expect(page.get_by_test_id("console-done")).to_be_visible()
        page.get_by_role("button", name="Check step 1").click()
        expect(page.get_by_test_id("check-1")).to_contain_text("has no permissions policy")
    cy = learners["Cy"]
    cy.get_by_role("button", name="Check step 1").click()  # nothing built: another mistake
    expect(cy.get_by_test_id("check-1")).to_contain_text("Not yet.")
    cy.evaluate("document.documentElement.dataset.marker = 'open'")

    mistakes = board.get_by_test_id("mistake")
    expect(mistakes).to_have_count(2, timeout=10_000)
    shared = mistakes.filter(has_text="has no permissions policy")
    expect(shared).to_contain_text("2 of 3 on step 1 (failed check)")
    expect(mistakes.filter(has_not_text="has no permissions policy")).to_contain_text("1 of 3")
    expect(mistakes.first).to_contain_text("2 of 3")  # most learners first
    assert axe_violations(board) == []

    shared.get_by_role("button", name="Reveal step 1's hint").click()
    expect(board.get_by_test_id("mistake").first).to_contain_text("hint open")
    expect(cy.get_by_test_id("class-hint")).to_contain_text(
        "Hint for step 1: opened by ada", timeout=10_000
    )
    assert cy.evaluate("document.documentElement.dataset.marker") == "open"  # never reloaded
    assert axe_violations(cy) == []


def test_an_open_credentials_page_says_paused_by_your_instructor_without_a_reload(
    make_class, live_server
):
    """Issue 17: when the instructor pauses rotation, the learner's page says "paused by your
    instructor"; the page a learner has open must not go on saying "rotation running"."""
    board, learners = make_class(("Ann",))
    ann = learners["Ann"]
    instance_id = launch_with_role(_sandbox("Ann"))
    ann.goto(f"{live_server.url}/sandbox/instances/{instance_id}/")
    expect(ann.get_by_test_id("class-clock")).to_contain_text("rotation running")
    _set_class_clock(board, speed="360", rotation="paused")
    expect(ann.get_by_test_id("renewal-stopped")).to_contain_text(
        "Your instructor paused rotation", timeout=5_000
    )  # the polled panel knows
    expect(ann.get_by_test_id("class-clock")).to_contain_text(
        "paused by your instructor", timeout=5_000
    )


def expiration(credentials: dict) -> float:
    return (
        datetime.strptime(credentials["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
        .replace(tzinfo=UTC)
        .timestamp()
    )
