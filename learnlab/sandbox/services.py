"""Sandbox lifecycle: provision, rebuild, reset, drop, reap.

Calls to the sandbox server happen outside database transactions so a slow server never holds
SQLite's write lock.
"""

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from learnlab.learners.models import Learner
from learnlab.sandbox import connection
from learnlab.sandbox.models import LAB_USER_NAME, AccessKey, Sandbox

log = logging.getLogger(__name__)

TOUCH_EVERY = timedelta(seconds=60)
MOTO_DEFAULT_ACCOUNT = "123456789012"


def _new_account_id() -> str:
    while True:
        account_id = f"{secrets.randbelow(9 * 10**11) + 10**11}"
        if account_id != MOTO_DEFAULT_ACCOUNT:
            return account_id


def sandbox_for_learner(*, learner: Learner) -> Sandbox:
    """The learner's sandbox, provisioned on first use and rebuilt if it was dropped."""
    sandbox = Sandbox.objects.filter(learner=learner).first()
    if sandbox is None:
        return sandbox_provision(learner=learner)
    if sandbox.status == Sandbox.Status.DROPPED:
        sandbox_rebuild(sandbox=sandbox)
    sandbox_touch(sandbox=sandbox)
    return sandbox


def _least_loaded_server() -> int:
    """The sandbox server holding the fewest live sandboxes."""
    servers = settings.LEARNLAB_SANDBOX_SERVERS
    if servers == 1:
        return 0
    counts = dict(
        Sandbox.objects.filter(status=Sandbox.Status.READY, server__lt=servers)
        .values_list("server")
        .annotate(count=Count("pk"))
    )
    return min(range(servers), key=lambda server: counts.get(server, 0))


def sandbox_provision(*, learner: Learner) -> Sandbox:
    """Create a fresh moto account with its lab user and keys, and record it."""
    server = _least_loaded_server()
    for _attempt in range(5):
        account_id = _new_account_id()
        if Sandbox.objects.filter(account_id=account_id).exists():
            continue
        created = connection.admin_call(
            "PUT", f"accounts/{account_id}", {"user_name": LAB_USER_NAME}, server=server
        )
        now = timezone.now()
        try:
            with transaction.atomic():
                sandbox = Sandbox.objects.create(
                    learner=learner,
                    account_id=account_id,
                    server=server,
                    built_at=now,
                    last_used_at=now,
                )
                AccessKey.objects.create(
                    sandbox=sandbox,
                    access_key_id=created["access_key_id"],
                    secret_access_key=created["secret_access_key"],
                    principal_arn=created["user_arn"],
                    kind=AccessKey.Kind.LAB_USER,
                )
        except IntegrityError:
            # Another request provisioned this learner's sandbox first: use theirs.
            connection.admin_call("DELETE", f"accounts/{account_id}", server=server)
            existing = Sandbox.objects.filter(learner=learner).first()
            if existing is not None:
                return existing
            continue
        log.info("provisioned sandbox %s for %s", account_id, learner.pk)
        return sandbox
    raise RuntimeError("could not find a free sandbox account id")


def sandbox_rebuild(*, sandbox: Sandbox) -> None:
    """Recreate the account on the sandbox server with the learner's existing lab keys."""
    key = sandbox.lab_key()
    connection.admin_call(
        "PUT",
        f"accounts/{sandbox.account_id}",
        {
            "user_name": LAB_USER_NAME,
            "access_key_id": key.access_key_id,
            "secret_access_key": key.secret_access_key,
        },
    )
    now = timezone.now()
    Sandbox.objects.filter(pk=sandbox.pk).update(
        status=Sandbox.Status.READY, built_at=now, last_used_at=now
    )
    sandbox.status, sandbox.built_at, sandbox.last_used_at = Sandbox.Status.READY, now, now
    log.info("rebuilt sandbox %s", sandbox.account_id)


def sandbox_drop(*, sandbox: Sandbox) -> None:
    """Free the account on the sandbox server; the record stays for a later rebuild."""
    connection.admin_call("DELETE", f"accounts/{sandbox.account_id}")
    with transaction.atomic():
        sandbox.access_keys.filter(kind=AccessKey.Kind.ROLE_SESSION).delete()
        Sandbox.objects.filter(pk=sandbox.pk).update(status=Sandbox.Status.DROPPED)
    sandbox.status = Sandbox.Status.DROPPED


def sandbox_reset(*, sandbox: Sandbox) -> None:
    """Wipe everything the learner built: same account and keys, nothing in it."""
    sandbox_drop(sandbox=sandbox)
    sandbox_rebuild(sandbox=sandbox)


def sandbox_reap(*, idle_for: timedelta) -> int:
    """Drop every sandbox unused for longer than ``idle_for``; returns how many."""
    cutoff = timezone.now() - idle_for
    reaped = 0
    for sandbox in Sandbox.objects.filter(status=Sandbox.Status.READY, last_used_at__lt=cutoff):
        try:
            sandbox_drop(sandbox=sandbox)
        except connection.SandboxServerUnavailable:
            log.warning("sandbox server unavailable; reaping again on the next pass")
            break
        reaped += 1
    return reaped


def sandbox_touch(*, sandbox: Sandbox) -> None:
    """Note that the sandbox is in use, writing at most once a minute."""
    now = timezone.now()
    if now - sandbox.last_used_at >= TOUCH_EVERY:
        Sandbox.objects.filter(pk=sandbox.pk).update(last_used_at=now)
        sandbox.last_used_at = now


class ClockSpeedError(ValueError):
    pass


def sandbox_set_clock_speed(*, sandbox: Sandbox, speed: int) -> None:
    """Run this sandbox's lab clock at ``speed``; sets issued from now on follow it."""
    from learnlab.ticker.clock import SPEEDS

    if speed not in SPEEDS:
        raise ClockSpeedError(f"The lab clock runs from {SPEEDS[0]}x to {SPEEDS[-1]}x real time.")
    Sandbox.objects.filter(pk=sandbox.pk).update(clock_speed=speed)
    sandbox.clock_speed = speed


def access_key_mark_used(*, key: AccessKey) -> None:
    """Note that role credentials made a successful call, writing at most once a minute."""
    now = timezone.now()
    if key.kind == AccessKey.Kind.ROLE_SESSION and (
        key.last_used_at is None or now - key.last_used_at >= TOUCH_EVERY
    ):
        AccessKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


def role_credentials_mint(
    *, sandbox: Sandbox, role_name: str, session_name: str, duration_seconds: int
) -> AccessKey:
    """Temporary credentials for a role in the sandbox, as STS issues them, recorded so the
    gate accepts them until they expire."""
    minted = connection.admin_call(
        "POST",
        f"accounts/{sandbox.account_id}/role-credentials",
        {
            "role_name": role_name,
            "session_name": session_name,
            "duration_seconds": duration_seconds,
            "region": sandbox.region,
        },
    )
    return AccessKey.objects.create(
        sandbox=sandbox,
        access_key_id=minted["AccessKeyId"],
        secret_access_key=minted["SecretAccessKey"],
        session_token=minted["Token"],
        principal_arn=minted["AssumedRoleArn"],
        kind=AccessKey.Kind.ROLE_SESSION,
        expires_at=timezone.now() + timedelta(seconds=duration_seconds),
    )


def role_credentials_forget(*, key: AccessKey) -> None:
    """Remove superseded credentials from the sandbox server and the gate."""
    connection.admin_call(
        "DELETE", f"accounts/{key.sandbox.account_id}/role-credentials/{key.access_key_id}"
    )
    key.delete()
