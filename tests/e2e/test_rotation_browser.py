"""Chromium watches a rotation happen on the page, live, at speed 360."""

import json
import re
import subprocess
import time
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from learnlab.imds.services import endpoint_for
from learnlab.sandbox.models import Sandbox
from tests.helpers import launch_with_role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_page_shows_a_rotation_as_it_happens(
    live_server, sandbox_server, settings, page, ticker
):
    settings.LEARNLAB_CLOCK_SPEED = 360
    page.goto(live_server.url + "/sandbox/panel")
    sandbox = Sandbox.objects.get()
    instance_id = launch_with_role(sandbox)
    token = endpoint_for(sandbox=sandbox, instance_id=instance_id).token
    url = f"{live_server.url}/imds/{token}/latest/meta-data/iam/security-credentials/app"
    first = json.loads(subprocess.run(["curl", "-s", url], capture_output=True, text=True).stdout)

    page.goto(f"{live_server.url}/sandbox/")
    page.get_by_role("link", name=instance_id).click()
    key = page.get_by_test_id("key-id")
    expect(key).to_have_text(first["AccessKeyId"])
    expect(page.get_by_test_id("expires-in")).to_have_text(re.compile(r"^\d+ s$"))

    expect(key).not_to_have_text(first["AccessKeyId"], timeout=20_000)
    expect(page.locator("#announcer")).to_contain_text("New credentials arrived")
    assert page.locator("svg.timeline rect.set").count() >= 2
    assert time.time() < json_time(first["Expiration"])  # the new set came before the old expired

    page.get_by_role("link", name="Pause live updates").click()
    paused_key = key.text_content()
    expect(page.get_by_role("link", name="Resume live updates")).to_be_visible()
    assert page.locator("#credentials-panel[hx-trigger]").count() == 0
    assert key.text_content() == paused_key


def json_time(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
