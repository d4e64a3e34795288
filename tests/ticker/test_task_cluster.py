"""The task cluster for real: a qcluster process runs the lab clock and the reaper."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.tasks import async_task, result

from learnlab.sandbox.models import Sandbox
from learnlab.ticker.services import clock_heartbeat_age, clock_run, lease_acquire

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_only_one_holder_has_the_clock_at_a_time():
    assert lease_acquire(holder="first")
    assert not lease_acquire(holder="second")
    assert lease_acquire(holder="first")


def test_the_clock_ticks_about_once_a_second(sandbox_server):
    assert clock_run(seconds=2.5) == 3
    assert clock_heartbeat_age() < 2


def test_the_task_cluster_runs_the_clock(task_cluster):
    async_task("learnlab.ticker.services.clock_run", seconds=3)
    deadline = time.monotonic() + 30
    while clock_heartbeat_age() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert clock_heartbeat_age() is not None and clock_heartbeat_age() < 5


def test_the_task_cluster_reaps_idle_sandboxes(task_cluster, make_sandbox):
    idle, busy = make_sandbox(), make_sandbox()
    Sandbox.objects.filter(pk=idle.pk).update(last_used_at=timezone.now() - timedelta(days=2))
    task_id = async_task("learnlab.sandbox.jobs.reap_idle_sandboxes")
    assert result(task_id, wait=30_000) == 1
    idle.refresh_from_db()
    busy.refresh_from_db()
    assert idle.status == Sandbox.Status.DROPPED
    assert busy.status == Sandbox.Status.READY
