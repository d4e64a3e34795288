"""A learner takes a short exam with the keyboard alone; axe-core finds no violations."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.axe import axe_violations

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def tab_to(page, name: str, limit: int = 60) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        text = page.evaluate(
            "(document.activeElement.innerText || document.activeElement.value || '').trim()"
        )
        if text == name:
            return
    raise AssertionError(f"could not reach {name!r} with Tab")


def tab_to_choice(page) -> None:
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "choice":
            return
    raise AssertionError("could not reach an answer with Tab")


def test_practice_pages_pass_axe(live_server, page):
    page.goto(live_server.url + "/quiz/")
    assert axe_violations(page) == []
    page.goto(live_server.url + "/quiz/practice/?points=EP03")
    assert axe_violations(page) == []
    tab_to_choice(page)
    page.keyboard.press("Space")
    tab_to(page, "Check my answer")
    page.keyboard.press("Enter")
    expect(page.locator("#verdict")).to_be_visible()
    assert axe_violations(page) == []
    page.goto(live_server.url + "/quiz/mastery/")
    assert axe_violations(page) == []


def test_a_short_exam_by_keyboard_alone(live_server, page):
    page.goto(live_server.url + "/quiz/")
    tab_to(page, "Start the exam")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("question 1 of 10")
    assert axe_violations(page) == []

    for number in range(1, 11):
        expect(page.get_by_role("heading", level=1)).to_contain_text(f"question {number} of 10")
        stem = page.locator("legend.stem").inner_text()
        needed = {"TWO": 2, "THREE": 3}.get(
            (re.search(r"\(Choose (TWO|THREE)\.\)", stem) or [None, None])[1], 1
        )
        tab_to_choice(page)
        page.keyboard.press("Space")
        for _ in range(needed - 1):
            page.keyboard.press("Tab")
            page.keyboard.press("Space")
        tab_to(page, "Save and next" if number < 10 else "Review all and submit")
        page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_contain_text("review before submitting")
    expect(page.get_by_text("Every question is answered.")).to_be_visible()
    assert axe_violations(page) == []
    tab_to(page, "Submit the exam")
    page.keyboard.press("Enter")

    expect(page.get_by_role("status").first).to_contain_text(re.compile(r"You scored \d+%"))
    assert axe_violations(page) == []


def test_the_timer_warns_through_the_live_region_and_submits_at_zero(live_server, page):
    from datetime import timedelta

    from learnlab.quiz.models import Exam

    page.goto(live_server.url + "/quiz/")
    page.get_by_role("button", name="Start the exam").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("question 1 of 10")
    exam = Exam.objects.get()
    # Move the start back so that 61 seconds are left.
    Exam.objects.filter(pk=exam.pk).update(
        started_at=exam.started_at - timedelta(seconds=exam.time_limit_seconds - 61)
    )
    page.reload()
    expect(page.locator("#announcer")).to_have_text(re.compile("minutes? left"))
    expect(page.locator(".timer-clock")).to_have_text(re.compile(r"^[01]:\d\d$"))
    page.get_by_role("button", name="Add 10 minutes").click()
    expect(page.locator(".timer-clock")).to_have_text(re.compile(r"^1[01]:\d\d$"))

    Exam.objects.filter(pk=exam.pk).update(time_limit_seconds=0)
    page.reload()
    expect(page.get_by_role("status").first).to_contain_text("You scored", timeout=10_000)
    assert Exam.objects.get().submitted_at is not None


@pytest.mark.parametrize(
    "path", ["/", "/sandbox/", "/lab/", "/accounts/signup/", "/accounts/login/"]
)
def test_the_other_pages_pass_axe(live_server, sandbox_server, page, path):
    page.goto(live_server.url + path)
    page.wait_for_load_state("networkidle")
    assert axe_violations(page) == []
