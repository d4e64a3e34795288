"""Sandbox work for the task cluster, on the schedule migrations/0002_reaper_schedule.py creates."""

from datetime import timedelta

from django.conf import settings

from learnlab.sandbox.services import sandbox_reap


def reap_idle_sandboxes() -> int:
    return sandbox_reap(idle_for=timedelta(hours=settings.LEARNLAB_SANDBOX_IDLE_HOURS))
