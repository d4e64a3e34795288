"""An instructor's pause freezes the time a set has left (issue 17.1): past what the set had left
it is still the one the metadata service hands out, the gate still takes it, its Expiration has
moved on by the time paused; resuming goes on from the time it had left and renews on schedule.

A set made to live 12 real seconds (``credentials_issue``'s test lifetime) stands for the clock's
30-minute sets, so the pause outlives it within the test."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from learnlab.imds.credentials import credentials_issue, credentials_tick
from learnlab.imds.models import InstanceCredentials
from learnlab.sandbox.models import Sandbox
from learnlab.sandbox.services import sandbox_set_clock

pytestmark = [pytest.mark.django_db(transaction=True)]
CREDENTIALS = "/latest/meta-data/iam/security-credentials/s3-reader"
LIFETIME = timedelta(seconds=12)  # renewed after 5-10 s at 360x: before it expires


def _identity(aws, document):
    return aws(
        "sts", "get-caller-identity",
        key_id=document["AccessKeyId"], secret=document["SecretAccessKey"],
        token=document["Token"],
    )  # fmt: skip


def _expiration(document) -> datetime:
    return datetime.strptime(document["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _pause(sandbox, paused: bool) -> None:
    """What the class clock's pause and resume do to each member's sandbox."""
    sandbox_set_clock(sandboxes=Sandbox.objects.filter(pk=sandbox.pk), speed=360, paused=paused)


def test_a_pause_holds_a_set_past_its_expiry_and_resume_goes_on_from_its_time_left(
    settings, curl, aws, lab, ticker
):
    settings.LEARNLAB_CLOCK_SPEED = 360
    sandbox = lab["sandbox"]
    held = credentials_issue(
        sandbox=sandbox, instance_id=lab["instance_id"], role_name="s3-reader", lifetime=LIFETIME
    )
    first = json.loads(curl(CREDENTIALS)[1])
    assert first["AccessKeyId"] == held.access_key.access_key_id
    _pause(sandbox, True)
    paused_at = time.time()
    left_at_pause = held.expires_at.timestamp() - paused_at

    time.sleep(LIFETIME.total_seconds() + 3)  # past the set's own Expiration, ticking
    assert time.time() > held.expires_at.timestamp() + 2
    now_doc = json.loads(curl(CREDENTIALS)[1])
    assert now_doc["AccessKeyId"] == first["AccessKeyId"]  # no new set issued on demand
    moved = (_expiration(now_doc) - _expiration(first)).total_seconds()
    paused_for = time.time() - paused_at
    assert paused_for - 2.5 <= moved <= paused_for + 1, (moved, paused_for)
    left = _expiration(now_doc).timestamp() - time.time()
    assert left > left_at_pause - 2.5, (left, left_at_pause)  # the countdown stood still
    assert _identity(aws, first).returncode == 0  # the gate takes it
    assert InstanceCredentials.objects.filter(sandbox=sandbox).count() == 1  # nor renewed

    ticker()  # the test ticks from here, to see the first tick after the resume
    _pause(sandbox, False)
    credentials_tick()
    held.refresh_from_db()
    assert held.held_at is None and held.superseded_at is None  # not renewed at once
    assert held.expires_at.timestamp() - time.time() > left_at_pause - 3
    deadline = time.monotonic() + LIFETIME.total_seconds() + 3
    while held.superseded_at is None and time.monotonic() < deadline:
        time.sleep(0.5)
        credentials_tick()
        held.refresh_from_db()
    assert held.superseded_at is not None, (held.renew_at, held.expires_at, datetime.now(UTC))
    assert held.superseded_at < held.expires_at  # renewed before the held set ran out
    second = json.loads(curl(CREDENTIALS)[1])
    assert second["AccessKeyId"] != first["AccessKeyId"]
    assert _identity(aws, second).returncode == 0


def test_a_running_clock_never_moves_a_sets_expiry(settings, lab):
    settings.LEARNLAB_CLOCK_SPEED = 360
    held = credentials_issue(
        sandbox=lab["sandbox"], instance_id=lab["instance_id"], role_name="s3-reader"
    )
    expires = held.expires_at
    for _ in range(3):
        credentials_tick()
        time.sleep(1)
    held.refresh_from_db()
    assert held.expires_at == expires and held.held_at is None
