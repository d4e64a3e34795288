"""Instance role credentials: issued as STS issues them for EC2, renewed on the lab clock.

The metadata service reads the current set from the database; the ticker (``credentials_tick``,
once a second on the task cluster) renews sets that are due and forgets expired ones.
"""

import contextlib
import logging
import math
import random
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from learnlab.imds.models import InstanceCredentials
from learnlab.sandbox import connection
from learnlab.sandbox.models import Sandbox
from learnlab.sandbox.services import role_credentials_mint
from learnlab.ticker import clock

log = logging.getLogger(__name__)

# A tick renews for at most this long, oldest due first, so it ends within its second; what is
# left waits for the next tick. Renewal times are spread (each set renews after 50-100 % of the
# interval, never later) so that sets issued together do not all fall due in one tick.
TICK_BUDGET_SECONDS = 0.7
RENEW_SPREAD = (0.5, 1.0)
DUE_AHEAD = timedelta(seconds=1)  # one tick of the lab clock's loop


def credentials_issue(
    *, sandbox: Sandbox, instance_id: str, role_name: str, now: datetime | None = None
) -> InstanceCredentials:
    """A new set for the instance's role: session name = instance id, as EC2 does."""
    now = now or timezone.now()
    speed = sandbox.lab_clock_speed
    lifetime = clock.real(clock.CREDENTIAL_LIFETIME, at_speed=speed)
    key = role_credentials_mint(
        sandbox=sandbox,
        role_name=role_name,
        session_name=instance_id,
        duration_seconds=max(1, math.ceil(lifetime.total_seconds())),
    )
    key.expires_at = now + lifetime
    key.save(update_fields=["expires_at"])
    return InstanceCredentials.objects.create(
        sandbox=sandbox,
        instance_id=instance_id,
        role_name=role_name,
        access_key=key,
        issued_at=now,
        expires_at=key.expires_at,
        renew_at=now + clock.renew_after(at_speed=speed) * random.uniform(*RENEW_SPREAD),  # noqa: S311
    )


def credentials_current(
    *, sandbox: Sandbox, instance_id: str, role_name: str
) -> InstanceCredentials:
    """The newest unexpired set for this instance and role, issuing the first one on demand."""
    now = timezone.now()
    current = (
        InstanceCredentials.objects.select_related("access_key")
        .filter(sandbox=sandbox, instance_id=instance_id, role_name=role_name, expires_at__gt=now)
        .order_by("-issued_at")
        .first()
    )
    return current or credentials_issue(
        sandbox=sandbox, instance_id=instance_id, role_name=role_name, now=now
    )


def credentials_tick(*, now: datetime | None = None) -> dict:
    """Renew every attached instance's credentials that are due; forget expired ones.

    Each renewal is claimed with a compare-and-set on ``superseded_at``, so two tickers never
    both renew one set. Returns counts for the caller (and the benchmark).
    """
    now = now or timezone.now()
    started = time.monotonic()
    attached = []
    for server in range(settings.LEARNLAB_SANDBOX_SERVERS):
        try:  # one server down (restarting) must not stop rotation on the others
            answer = connection.admin_call("GET", "attached-instances", server=server)
        except connection.SandboxServerUnavailable:
            log.warning("sandbox server %s did not answer; its instances wait a tick", server)
            continue
        attached += answer["instances"]
    sandboxes = {
        s.account_id: s
        for s in Sandbox.objects.filter(
            account_id__in={account for account, *_ in attached},
            status=Sandbox.Status.READY,
            rotation_paused=False,  # an instructor paused rotation for a demo
        )
    }
    live = {
        (c.sandbox_id, c.instance_id, c.role_name): c
        for c in InstanceCredentials.objects.filter(superseded_at=None, expires_at__gt=now)
    }
    due = []
    for account, _region, instance_id, role_name in attached:
        sandbox = sandboxes.get(account)
        if sandbox is None:
            continue
        current = live.get((sandbox.pk, instance_id, role_name))
        # Due before the next tick counts as due now: renewing under a second early beats
        # renewing up to a second late.
        if current is None or current.renew_at <= now + DUE_AHEAD:
            due.append((current.renew_at if current else now, sandbox, instance_id, role_name))
    renewed = issued = 0
    for _due_at, sandbox, instance_id, role_name in sorted(due, key=lambda d: d[0]):
        if time.monotonic() - started > TICK_BUDGET_SECONDS:
            break  # the rest wait for the next tick, where the longest-due go first
        current = live.get((sandbox.pk, instance_id, role_name))
        moment = timezone.now()
        if current is not None:
            claimed = InstanceCredentials.objects.filter(pk=current.pk, superseded_at=None).update(
                superseded_at=moment
            )
            if claimed != 1:
                continue  # another ticker got there first
        try:
            credentials_issue(
                sandbox=sandbox, instance_id=instance_id, role_name=role_name, now=moment
            )
        except (connection.SandboxServerError, IntegrityError) as error:
            log.warning("could not renew credentials of %s: %s", instance_id, error)
            continue
        renewed += current is not None
        issued += current is None
    forgotten = 0
    if time.monotonic() - started <= TICK_BUDGET_SECONDS:
        forgotten = credentials_forget_expired(now=now)
    return {
        "attached": len(attached),
        "due": len(due),
        "renewed": renewed,
        "issued": issued,
        "forgotten": forgotten,
    }


def credentials_forget_expired(*, now: datetime) -> int:
    """Expired sets leave the sandbox server; the gate keeps the key to answer ExpiredToken."""
    forgotten = 0
    expired = InstanceCredentials.objects.select_related("sandbox", "access_key").filter(
        expires_at__lte=now, forgotten_at=None
    )
    for credentials in expired[:200]:  # a bounded batch a tick; the rest next tick
        with transaction.atomic():
            claimed = InstanceCredentials.objects.filter(
                pk=credentials.pk, forgotten_at=None
            ).update(forgotten_at=now)
        if claimed != 1:
            continue
        # If the account is gone already, there is nothing left to forget.
        with contextlib.suppress(
            connection.SandboxServerError, connection.SandboxServerUnavailable
        ):
            connection.admin_call(
                "DELETE",
                f"accounts/{credentials.sandbox.account_id}/role-credentials/"
                f"{credentials.access_key.access_key_id}",
            )
        forgotten += 1
    return forgotten


def credentials_history(*, sandbox: Sandbox, instance_id: str, limit: int = 20) -> list:
    return list(
        InstanceCredentials.objects.select_related("access_key")
        .filter(sandbox=sandbox, instance_id=instance_id)
        .order_by("-issued_at")[:limit]
    )
