"""Chromium: live pages show a change within a second, and settled they only hold a wait.

Before issue 16 the credentials panel polled every second and a class learner's lab page every
4 s; now each holds one /live/wait (the test server answers it in Django, static/js/live.js
asks again) and polls its fragment every 60 s as a safety net."""

import re
import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from learnlab.classroom.services import (
    classroom_announce,
    classroom_create,
    classroom_reveal_hint,
    instructor_grant,
)
from learnlab.imds.credentials import credentials_tick
from learnlab.imds.models import InstanceCredentials
from learnlab.labs.catalog import lab_get
from learnlab.sandbox.models import Sandbox
from tests.helpers import launch_with_role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SETTLED_SECONDS = 6.0


def _requests_while_settled(page, seconds: float = SETTLED_SECONDS) -> list[str]:
    """The paths the page asks for over ``seconds`` when nothing changes."""
    seen = []

    def record(request):
        seen.append(re.sub(r"^https?://[^/]+", "", request.url).split("?")[0])

    page.on("request", record)
    page.wait_for_timeout(seconds * 1000)
    page.remove_listener("request", record)
    return seen


def test_the_credentials_page_shows_a_renewal_within_a_second_without_polling(
    live_server, sandbox_server, settings, page
):
    settings.LEARNLAB_CLOCK_SPEED = 360
    page.goto(live_server.url + "/sandbox/panel")
    sandbox = Sandbox.objects.get()
    instance_id = launch_with_role(sandbox)
    credentials_tick()  # the first set
    page.goto(f"{live_server.url}/sandbox/instances/{instance_id}/")
    key = page.get_by_test_id("key-id")
    first = key.text_content()
    assert first.startswith("ASIA")
    expires = page.get_by_test_id("expires-in")
    shown = int(expires.text_content().split()[0])

    settled = _requests_while_settled(page)
    # Today's page asked for its panel every second (6 here); now: the held wait, nothing else.
    assert settled.count(f"/sandbox/instances/{instance_id}/credentials") == 0
    assert set(settled) <= {"/live/wait"}
    assert len(settled) <= 1
    # The countdown still runs, in the page, from the stored Expiration.
    assert int(expires.text_content().split()[0]) <= shown - int(SETTLED_SECONDS) + 1

    InstanceCredentials.objects.update(renew_at=timezone.now() - timedelta(seconds=1))
    assert credentials_tick()["renewed"] == 1  # the ticker issues a new set
    issued = time.monotonic()
    expect(key).not_to_have_text(first, timeout=1000)
    assert time.monotonic() - issued < 1.0
    expect(page.locator("#announcer")).to_contain_text("New credentials arrived")


@pytest.fixture
def classroom(db):
    user = get_user_model().objects.create_user(username="ada", password="x-Secret-42!")
    instructor_grant(user=user)
    return classroom_create(instructor=user, name="Tuesday lab")


def test_an_announcement_and_a_hint_reach_an_open_lab_page_within_a_second(
    live_server, sandbox_server, page, classroom
):
    page.goto(live_server.url + "/class/")
    page.get_by_label("Class code").fill(classroom.code)
    page.get_by_label("Your name").fill("Cy")
    page.get_by_role("button", name="Join the class").click()
    expect(page.get_by_test_id("class-banner")).to_contain_text("Tuesday lab")
    page.evaluate("document.documentElement.dataset.marker = 'open'")

    settled = _requests_while_settled(page)
    assert "/class/live" not in settled  # polled every 4 s before
    assert set(settled) <= {"/live/wait"}
    assert len(settled) <= 1

    classroom_announce(classroom=classroom, text="Break until 11:00")
    said = time.monotonic()
    expect(page.get_by_test_id("announcement")).to_contain_text("Break until 11:00", timeout=1000)
    assert time.monotonic() - said < 1.0

    step = lab_get(classroom.lab).steps[0]
    classroom_reveal_hint(classroom=classroom, step=step.slug)
    opened = time.monotonic()
    expect(page.get_by_test_id("class-hint")).to_contain_text("opened by ada", timeout=1000)
    assert time.monotonic() - opened < 1.0
    assert page.evaluate("document.documentElement.dataset.marker") == "open"  # no reload
