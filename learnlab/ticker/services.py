"""The lab clock: a one-second loop on the task cluster.

django-q2 schedules no finer than a minute (reference/stack.md §1.4), so a scheduled job runs
this loop for a little over a minute and the next one takes over; the lease makes sure exactly
one loop ticks at a time, and a loop that finds the lease held waits for its turn.
"""

import logging
import time
import uuid
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from learnlab.imds.credentials import credentials_tick
from learnlab.sandbox import connection
from learnlab.sandbox.drain import sandboxes_unlisted_move
from learnlab.sandbox.services import sandbox_rebuild_lost, sandbox_servers_watch
from learnlab.ticker.models import Lease

log = logging.getLogger(__name__)
CLOCK = "clock"
TICK_SECONDS = 1.0
LEASE_FOR = timedelta(seconds=3)
REBUILD_BUDGET_SECONDS = 1.5  # within the lease, so no second loop starts meanwhile
STALE_AFTER_SECONDS = 10.0  # without a tick, the clock counts as stopped


def lease_acquire(*, holder: str) -> bool:
    """Take or renew the clock's lease; False while another loop holds it."""
    now = timezone.now()
    Lease.objects.get_or_create(name=CLOCK, defaults={"held_until": now - LEASE_FOR})
    taken = Lease.objects.filter(Q(holder=holder) | Q(held_until__lt=now), name=CLOCK).update(
        holder=holder, held_until=now + LEASE_FOR, ticked_at=now
    )
    return taken == 1


def lease_release(*, holder: str) -> None:
    Lease.objects.filter(name=CLOCK, holder=holder).update(held_until=timezone.now())


def clock_tick() -> None:
    """One tick of the lab clock: renew instance credentials that are due, then rebuild the
    sandboxes of a restarted sandbox server.

    Renewals come first: a rebuild replays up to a sandbox's whole log (2,000 calls), and
    every other learner's credentials must not wait behind it. A rebuilt sandbox's instances
    are renewed on the next tick."""
    try:
        sandboxes_unlisted_move()  # a server gone from the list: its sandboxes rebuilt elsewhere
        sandbox_servers_watch()
        credentials_tick()
        sandbox_rebuild_lost(budget_seconds=REBUILD_BUDGET_SECONDS)
    except connection.SandboxServerUnavailable:
        pass  # restarting: the next tick catches up
    except Exception:
        log.exception("the lab clock's tick failed; ticking on")


def clock_run(*, seconds: float) -> int:
    """Tick once a second for ``seconds`` while holding the lease; returns the ticks made."""
    holder = uuid.uuid4().hex
    deadline = time.monotonic() + seconds
    ticks = 0
    try:
        while time.monotonic() < deadline:
            started = time.monotonic()
            if lease_acquire(holder=holder):
                clock_tick()
                ticks += 1
                time.sleep(max(0.0, TICK_SECONDS - (time.monotonic() - started)))
            else:
                time.sleep(0.2)
    finally:
        lease_release(holder=holder)
    return ticks


def clock_heartbeat_age(now=None) -> float | None:
    """Seconds since the clock last ticked, or None if it never has."""
    lease = Lease.objects.filter(name=CLOCK).first()
    if lease is None or lease.ticked_at is None:
        return None
    return ((now or timezone.now()) - lease.ticked_at).total_seconds()


def clock_is_ticking(now=None) -> bool:
    """Whether the clock ticked within STALE_AFTER_SECONDS."""
    age = clock_heartbeat_age(now)
    return age is not None and age <= STALE_AFTER_SECONDS
