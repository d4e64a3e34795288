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


def _shown_values(page) -> list[int]:
    return [int(v) for v in page.locator('input[name="choice"]').evaluate_all(
        "inputs => inputs.map(input => input.value)"
    )]  # fmt: skip


def test_shuffled_options_previous_and_a_retake_of_what_was_missed(live_server, page):
    from learnlab.quiz.bank import items_for, load_bank
    from learnlab.quiz.models import Exam

    page.goto(live_server.url + "/quiz/")
    page.get_by_label("Timed").uncheck()
    page.get_by_role("button", name="Start the exam").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("question 1 of 10")
    exam = Exam.objects.get()
    bank = load_bank()
    first, second = bank[exam.item_ids[0]], bank[exam.item_ids[1]]

    # The options come in this learner's order, the same after a reload.
    shown = _shown_values(page)
    assert shown == [n for n, _ in first.shuffled(exam.learner_id)]
    page.reload()
    assert _shown_values(page) == shown

    # Question 1 answered wrong (chosen by identity), question 2 right; Previous keeps answer 1.
    wrong = sorted(set(range(len(first.options))) - first.correct)[0]
    page.locator(f'input[name="choice"][value="{wrong}"]').check()
    page.get_by_role("button", name="Save and next").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("question 2 of 10")
    for key in sorted(second.correct):
        page.locator(f'input[name="choice"][value="{key}"]').check()
    page.get_by_role("button", name="Previous").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("question 1 of 10")
    expect(page.locator(f'input[name="choice"][value="{wrong}"]')).to_be_checked()
    page.get_by_role("button", name="Review all and submit").click()
    expect(page.get_by_text("8 questions not answered yet")).to_be_visible()
    page.get_by_role("button", name="Submit the exam").click()

    expect(page.get_by_role("status").first).to_contain_text("You scored 10%")
    assert axe_violations(page) == []
    page.get_by_role("link", name="Show only what I missed (9)").click()
    expect(page.locator("h3")).to_have_count(9)
    expect(page.get_by_role("heading", name="Question 2: right")).to_have_count(0)
    assert axe_violations(page) == []
    page.get_by_role("button", name="Retake what I missed (9 questions)").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("question 1 of 9")
    retake = Exam.objects.latest("pk")
    assert retake.item_ids == [i for i in exam.item_ids if i != second.id]
    assert _shown_values(page) == shown  # same learner, same item: same order
    assert axe_violations(page) == []

    # Asking for more questions than the bank holds is said before the exam starts.
    page.goto(live_server.url + "/quiz/")
    page.locator("#exam").select_option("CLF-C02")
    page.locator("#count").select_option("30")
    page.get_by_role("button", name="Start the exam").click()
    available = len(items_for(exam="CLF-C02"))
    expect(page.get_by_role("status")).to_contain_text(f"has {available} CLF-C02 questions")
    assert axe_violations(page) == []
    page.get_by_role("button", name=f"Start a {available}-question exam").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"question 1 of {available}")

    # A lab mistake's reason on the mastery page.
    from learnlab.quiz.services import lab_mistake_record

    lab_mistake_record(
        learner=exam.learner,
        lab="instance-role",
        step=3,
        points=["EP06"],
        source="check",
        reason="check",
        message="The instance has no instance profile: attach the profile, not the role.",
    )
    page.goto(live_server.url + "/quiz/mastery/")
    expect(page.get_by_text("Due because step 3's check failed")).to_be_visible()
    assert axe_violations(page) == []
