"""Real Chromium, guided: snippets run in the page's terminal, a passed step leads to the next,
the page reopens at the current step, and the finished lab ends on its completion page."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from learnlab.labs.catalog import lab_get
from learnlab.labs.models import StepResult
from learnlab.learners.models import Learner
from tests.e2e.axe import axe_violations

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def lab(live_server, sandbox_server, page):
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live_server.url + "/lab/instance-role/")
    expect(page.locator("#terminal-line")).to_be_visible()
    page.errors = errors
    return page


def _run_solution(page, number: int, expected):
    """Open step N's "Show me" and press Run in terminal on its first CLI snippet."""
    step = page.locator(f"#step-{number}")
    step.locator("details.solution > summary").click()
    step.locator(f"[data-snippet-run='step-{number}-cli-snippet-1']").click()
    expect(page.locator("#terminal-log")).to_contain_text(expected, timeout=20_000)


def _check_and_go_next(page, number: int):
    page.get_by_role("button", name=f"Check step {number}").click()
    expect(page.get_by_test_id(f"check-{number}")).to_contain_text("Passed.", timeout=10_000)
    next_step = page.get_by_test_id(f"next-{number}").get_by_role("link")
    expect(next_step).to_contain_text("Next step")
    next_step.focus()
    next_step.press("Enter")  # the keyboard way
    expect(page.locator(f"#step-{number + 1}-title")).to_be_focused()


def test_snippets_next_step_the_current_step_and_the_completion_page(lab, live_server):
    page = lab
    _run_solution(page, 1, '"RoleName": "S3ReadForEC2"')
    _check_and_go_next(page, 1)
    _run_solution(page, 2, '"InstanceProfileName": "S3ReadForEC2"')
    _check_and_go_next(page, 2)
    _run_solution(page, 3, re.compile(r'"InstanceId": "i-[0-9a-f]+"'))
    _check_and_go_next(page, 3)

    # Back later: the page opens at step 4, its heading focused and on screen.
    page.goto(live_server.url + "/lab/instance-role/")
    heading = page.locator("#step-4-title")
    expect(heading).to_be_focused()
    expect(heading).to_be_in_viewport()
    instance = re.search(r"i-[0-9a-f]{17}", page.get_by_test_id("diagram-text").inner_text())[0]

    # Step 4's snippet names an example instance: Run puts the learner's own in.
    page.locator("#step-4 details.solution > summary").click()
    page.locator("[data-snippet-run='step-4-cli-snippet-1']").click()
    expect(page.locator("#terminal-log")).to_contain_text(f"connect {instance}", timeout=20_000)
    expect(page.locator("#terminal-log")).to_contain_text('"AccessKeyId" : "ASIA', timeout=20_000)
    assert "i-0123456789abcdef0" not in page.locator("#terminal-log").inner_text()
    assert axe_violations(page) == []

    # Steps 4 to 6 are the checks' business (tests/labs): stored as passed here.
    learner = Learner.objects.get()
    now = timezone.now()
    for step in lab_get("instance-role").steps[3:]:
        StepResult.objects.update_or_create(
            learner=learner,
            lab="instance-role",
            step=step.slug,
            defaults={"passed": True, "message": "ok", "checked_at": now, "passed_at": now},
        )
    page.goto(live_server.url + "/lab/instance-role/")
    page.get_by_test_id("lab-complete").get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("You finished")
    built = page.get_by_test_id("built")
    for thing in ("S3ReadForEC2", instance):
        expect(built).to_contain_text(thing)
    expect(page.get_by_test_id("key-ids")).to_contain_text("ASIA")
    expect(page.get_by_test_id("took")).to_contain_text(re.compile(r"\d+ (second|minute)"))
    expect(page.get_by_test_id("points")).to_contain_text("EP01")
    practise = page.get_by_test_id("practise").get_by_role("link")
    expect(practise.first).to_have_attribute("href", re.compile(r"/quiz/practice/\?points=EP"))
    assert axe_violations(page) == []
    assert page.errors == []
