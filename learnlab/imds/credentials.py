"""Instance role credentials: issued as STS issues them for EC2, renewed on the lab clock.

The metadata service reads the current set from the database; the ticker (``credentials_tick``,
once a second on the task cluster) renews sets that are due and forgets expired ones.

One learner cannot starve another's instances: the clock keeps at most ATTACHED_PER_SANDBOX
instances of a sandbox supplied (the rest get no credentials, and the metadata service says
why), and it renews in turns across sandboxes (each sandbox's longest-due set, then each one's
second...), so a sandbox with many due sets cannot use up a tick's budget before another's one
set.

A set lives ``clock.lifetime`` (never under its renewal interval plus 30 real minutes, so the
SDKs' refresh windows fit), so at high speeds many sets of one instance are valid at once
(about 180 at 360x). Only the ones somebody may hold need to be: a set that was never handed out
(not fetched from the metadata service, not shown on the credentials page) is withdrawn as soon
as it is superseded, a bounded batch a tick; handed-out sets stay valid until their own
Expiration, as AWS's do. Rows of long-expired and withdrawn sets are pruned, so the table stays
bounded however fast the clock.
"""

import contextlib
import logging
import math
import random
import time
from collections import defaultdict
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Max, Min, Q, Value, Window
from django.db.models.functions import Coalesce, Least, RowNumber
from django.utils import timezone

from learnlab.imds.models import InstanceCredentials
from learnlab.lib import clock
from learnlab.live.services import topic_changed, topics_track
from learnlab.sandbox import connection
from learnlab.sandbox.models import AccessKey, Sandbox
from learnlab.sandbox.services import role_credentials_mint

log = logging.getLogger(__name__)

# A tick renews for at most this long, oldest due first, so it ends within its second; what is
# left waits for the next tick. Renewal times are spread (each set renews after 50-100 % of the
# interval, never later) so that sets issued together do not all fall due in one tick.
TICK_BUDGET_SECONDS = 0.7
RENEW_SPREAD = (0.5, 1.0)
DUE_AHEAD = timedelta(seconds=1)  # one tick of the lab clock's loop
# A lab needs one or two instances; ten leave room to experiment and bound one sandbox's share
# of the clock (at 360x each renews every 5-10 s).
ATTACHED_PER_SANDBOX = 10
# A forgotten set's row (and its key, which answers ExpiredToken meanwhile) is kept this long
# after it expired or was withdrawn, then pruned, a bounded batch a tick.
PRUNE_AFTER = timedelta(minutes=10)
PRUNE_BATCH = 500
FORGET_BATCH = 200  # expired sets forgotten a tick, and as many superseded unhanded ones withdrawn
CHAIN = ("sandbox_id", "instance_id", "role_name")  # one instance's sets for one role


class InstanceLimitReached(Exception):
    """The sandbox's clock supplies ATTACHED_PER_SANDBOX instances already."""

    def __init__(self, sandbox: Sandbox, instance_id: str):
        super().__init__(
            f"{instance_id} gets no role credentials: this lab supplies the instances of one "
            f"sandbox {ATTACHED_PER_SANDBOX} at a time, and {ATTACHED_PER_SANDBOX} others have "
            f"them. Stop or terminate one, or detach its instance profile, and this instance "
            f"gets its credentials at the next tick of the lab clock."
        )


def credentials_issue(
    *,
    sandbox: Sandbox,
    instance_id: str,
    role_name: str,
    now: datetime | None = None,
    lifetime: timedelta | None = None,
) -> InstanceCredentials:
    """A new set for the instance's role: session name = instance id, as EC2 does.

    ``lifetime`` (real time) is for tests that need a set to expire soon; the clock's own sets
    live ``clock.lifetime``."""
    now = now or timezone.now()
    speed = sandbox.lab_clock_speed
    lifetime = lifetime or clock.lifetime(at_speed=speed)
    renew_in = clock.renew_after(at_speed=speed) * random.uniform(*RENEW_SPREAD)  # noqa: S311
    key = role_credentials_mint(
        sandbox=sandbox,
        role_name=role_name,
        session_name=instance_id,
        duration_seconds=max(1, math.ceil(lifetime.total_seconds())),
    )
    # Whole seconds: the document states Expiration to the second, and the gate enforces it.
    key.expires_at = (now + lifetime).replace(microsecond=0)
    key.save(update_fields=["expires_at"])
    issued = InstanceCredentials.objects.create(
        sandbox=sandbox,
        instance_id=instance_id,
        role_name=role_name,
        access_key=key,
        issued_at=now,
        expires_at=key.expires_at,
        renew_at=now + min(renew_in, lifetime),
    )
    topic_changed(f"creds:{sandbox.account_id}")  # its credentials page fetches the new set
    return issued


def credentials_current(
    *, sandbox: Sandbox, instance_id: str, role_name: str
) -> InstanceCredentials:
    """The newest unexpired set for this instance and role, issuing the first one on demand
    unless the sandbox's other instances hold the cap (raises InstanceLimitReached)."""
    now = timezone.now()
    current = (
        InstanceCredentials.objects.select_related("access_key")
        .filter(sandbox=sandbox, instance_id=instance_id, role_name=role_name, expires_at__gt=now)
        .filter(forgotten_at=None)  # a withdrawn set is never served again
        .order_by("-issued_at")
        .first()
    )
    if current is not None:
        return current
    supplied = (
        InstanceCredentials.objects.filter(sandbox=sandbox, superseded_at=None, expires_at__gt=now)
        .exclude(instance_id=instance_id)
        .values("instance_id")
        .distinct()
        .count()
    )
    if supplied >= ATTACHED_PER_SANDBOX:
        raise InstanceLimitReached(sandbox, instance_id)
    return credentials_issue(sandbox=sandbox, instance_id=instance_id, role_name=role_name, now=now)


def credentials_fetch(*, sandbox: Sandbox, instance_id: str, role_name: str) -> InstanceCredentials:
    """The set the instance's metadata service hands out now (``credentials_current``), marked
    as fetched the first time: the learner's own act that the lab's checks look for, and what
    keeps the set valid until its Expiration once it is superseded."""
    for _attempt in range(3):
        credentials = credentials_current(
            sandbox=sandbox, instance_id=instance_id, role_name=role_name
        )
        if credentials.fetched_at is not None or _mark(credentials, "fetched_at"):
            return credentials
        # The ticker withdrew it (superseded, never handed out) between the read and the mark:
        # the next read finds its successor.
    raise connection.SandboxServerError(
        503, "ServiceUnavailable", "the instance's credentials were renewed under every read"
    )


def credentials_show(*, credentials: InstanceCredentials) -> bool:
    """Record that the credentials page showed this set (first time only). False when the set
    was withdrawn meanwhile: the page must not show it."""
    return credentials.shown_at is not None or _mark(credentials, "shown_at")


def _mark(credentials: InstanceCredentials, field: str) -> bool:
    """Set ``field`` (fetched_at or shown_at) now unless the set was withdrawn: a compare-and-set
    against ``credentials_withdraw_unhanded``'s, so a set is either handed out or withdrawn."""
    moment = timezone.now()
    marked = InstanceCredentials.objects.filter(pk=credentials.pk, forgotten_at=None).update(
        **{field: Coalesce(F(field), Value(moment))}
    )
    if marked:
        setattr(credentials, field, getattr(credentials, field) or moment)
    return marked == 1


def credentials_tick(*, now: datetime | None = None) -> dict:
    """Renew the due credentials of every supplied instance, sandbox by sandbox in turns;
    forget expired sets; prune long-expired rows.

    Each renewal is ``credentials_renew``'s compare-and-set, so two tickers never both renew
    one set. Returns counts for the caller (and the benchmark).
    """
    now = now or timezone.now()
    started = time.monotonic()
    attached = _attached_instances()
    topics_track("attached", {(f"creds:{a}", i, r) for a, _region, i, r in attached})  # live
    sandboxes = {
        s.account_id: s
        for s in Sandbox.objects.filter(
            account_id__in={account for account, *_ in attached},
            status=Sandbox.Status.READY,
            rotation_paused=False,  # an instructor paused rotation for a demo
        )
    }
    held = credentials_hold(now=now)  # before the reads below: they see the times moved on
    live = {
        (c.sandbox_id, c.instance_id, c.role_name): c
        for c in InstanceCredentials.objects.filter(superseded_at=None, expires_at__gt=now)
    }
    supplied, beyond_cap = _supplied(attached, sandboxes, live)
    due = []
    for sandbox, instance_id, role_name in supplied:
        current = live.get((sandbox.pk, instance_id, role_name))
        # Due before the next tick counts as due now: renewing under a second early beats
        # renewing up to a second late.
        if current is None or current.renew_at <= now + DUE_AHEAD:
            due.append((current.renew_at if current else now, sandbox, instance_id, role_name))
    renewed = issued = 0
    for _due_at, sandbox, instance_id, role_name in _in_turns(due):
        if time.monotonic() - started > TICK_BUDGET_SECONDS:
            break  # the rest wait for the next tick, where the longest-due go first
        current = live.get((sandbox.pk, instance_id, role_name))
        try:
            fresh = credentials_renew(
                sandbox=sandbox, instance_id=instance_id, role_name=role_name, current=current
            )
        except (connection.SandboxServerError, IntegrityError) as error:
            log.warning("could not renew credentials of %s: %s", instance_id, error)
            continue
        if fresh is None:
            continue  # another ticker got there first
        renewed += current is not None
        issued += current is None
    withdrawn = forgotten = pruned = 0
    if time.monotonic() - started <= TICK_BUDGET_SECONDS:
        withdrawn = credentials_withdraw_unhanded(now=now)
    if time.monotonic() - started <= TICK_BUDGET_SECONDS:
        forgotten = credentials_forget_expired(now=now)
    if time.monotonic() - started <= TICK_BUDGET_SECONDS:
        pruned = credentials_prune(now=now)
    return {
        "attached": len(attached),
        "beyond_cap": beyond_cap,
        "due": len(due),
        "renewed": renewed,
        "issued": issued,
        "withdrawn": withdrawn,
        "forgotten": forgotten,
        "pruned": pruned,
        "held": held,
    }


def credentials_hold(*, now: datetime) -> int:
    """An instructor's pause freezes the time its sets have left (issue 17.1): every tick, each
    unexpired set of a paused sandbox has its expiry (the set's and its key's, which the gate
    enforces) and its renewal moved on by the whole seconds since the last move (``held_at``),
    so the metadata document's Expiration and the credentials page's countdown stand still, an
    SDK never comes within its refresh window, and nothing expires or renews while paused. On
    resume the last move is made and the set goes on from the time it had left, renewing on its
    own schedule. Returns the sets moved on."""
    paused = InstanceCredentials.objects.filter(
        sandbox__rotation_paused=True, forgotten_at=None, expires_at__gt=now
    )
    paused.filter(held_at=None).update(held_at=now.replace(microsecond=0))
    resumed = InstanceCredentials.objects.filter(sandbox__rotation_paused=False).exclude(
        held_at=None
    )
    moved = 0
    for since in (
        paused.filter(held_at__lte=now - timedelta(seconds=1))
        .values_list("held_at", flat=True)
        .distinct()[:FORGET_BATCH]
    ):
        moved += _move_on(paused.filter(held_at=since), since=since, now=now, held=True)
    for since in resumed.values_list("held_at", flat=True).distinct()[:FORGET_BATCH]:
        moved += _move_on(resumed.filter(held_at=since), since=since, now=now, held=False)
    return moved


def _move_on(sets, *, since: datetime, now: datetime, held: bool) -> int:
    """Move these sets' expiry and renewal on by the whole seconds from ``since`` to ``now`` (a
    compare-and-set on ``held_at``); ``held``: still paused (else the hold ends)."""
    delta = timedelta(seconds=max(0, math.floor((now - since).total_seconds())))
    with transaction.atomic():
        pks = list(sets.select_for_update().values_list("pk", "access_key_id"))
        if not pks:
            return 0
        rows = InstanceCredentials.objects.filter(pk__in=[pk for pk, _key in pks], held_at=since)
        moved = rows.update(
            expires_at=F("expires_at") + delta,
            renew_at=F("renew_at") + delta,
            held_at=since + delta if held else None,
        )
        AccessKey.objects.filter(pk__in=[key for _pk, key in pks]).update(
            expires_at=F("expires_at") + delta
        )
    return moved


def credentials_renew(
    *, sandbox: Sandbox, instance_id: str, role_name: str, current: InstanceCredentials | None
) -> InstanceCredentials | None:
    """The set after ``current`` (the first one when None), or None when another ticker has
    renewed ``current`` already: claiming it is a compare-and-set on ``superseded_at``, so two
    tickers that both saw it due never both renew it."""
    moment = timezone.now()
    if current is not None:
        claimed = InstanceCredentials.objects.filter(pk=current.pk, superseded_at=None).update(
            superseded_at=moment
        )
        if claimed != 1:
            return None
    return credentials_issue(
        sandbox=sandbox, instance_id=instance_id, role_name=role_name, now=moment
    )


def _attached_instances() -> list:
    """[account, region, instance id, role name] of every attached instance, every server."""
    attached = []
    for server in connection.server_names():
        try:  # one server down (restarting) must not stop rotation on the others
            attached += connection.attached_instances(server=server)
        except connection.SandboxServerUnavailable:
            log.warning("sandbox server %s did not answer; its instances wait a tick", server)
            continue
    return attached


def _supplied(attached: list, sandboxes: dict, live: dict) -> tuple[list, int]:
    """The (sandbox, instance id, role name) the clock keeps supplied: per sandbox, those that
    hold credentials first (they keep them), then in launch order, ATTACHED_PER_SANDBOX at most;
    and how many attached instances are beyond that cap."""
    per_sandbox = defaultdict(list)
    for account, _region, instance_id, role_name in attached:
        sandbox = sandboxes.get(account)
        if sandbox is not None:
            per_sandbox[sandbox.pk].append((sandbox, instance_id, role_name))
    supplied, beyond = [], 0
    for entries in per_sandbox.values():
        # sorted() is stable: within each group, the sandbox server's (launch) order.
        entries = sorted(entries, key=lambda e: (e[0].pk, e[1], e[2]) not in live)
        supplied += entries[:ATTACHED_PER_SANDBOX]
        beyond += max(0, len(entries) - ATTACHED_PER_SANDBOX)
    return supplied, beyond


def _in_turns(due: list) -> list:
    """Round-robin across sandboxes: every sandbox's longest-due set, then every sandbox's
    second, and so on; within a round, the longest-due first."""
    per_sandbox = defaultdict(list)
    for entry in sorted(due, key=lambda d: d[0]):
        per_sandbox[entry[1].pk].append(entry)
    ranked = [
        (turn, entry) for entries in per_sandbox.values() for turn, entry in enumerate(entries)
    ]
    return [entry for _turn, entry in sorted(ranked, key=lambda r: (r[0], r[1][0]))]


def credentials_forget_expired(*, now: datetime) -> int:
    """Expired sets leave the sandbox server; the gate keeps the key to answer ExpiredToken."""
    forgotten = 0
    expired = InstanceCredentials.objects.select_related("sandbox", "access_key").filter(
        expires_at__lte=now, forgotten_at=None
    )
    for credentials in expired[:FORGET_BATCH]:  # a bounded batch a tick; the rest next tick
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
            connection.role_credentials_forget(
                credentials.sandbox.account_id, credentials.access_key.access_key_id
            )
        forgotten += 1
    return forgotten


def credentials_withdraw_unhanded(*, now: datetime) -> int:
    """Superseded sets nobody was handed (never fetched, never shown) leave the sandbox server
    and answer ExpiredToken from now on: no client can hold them, so they need not stay valid
    until their Expiration. A bounded batch a tick, claimed by compare-and-set against
    ``_mark``."""
    withdrawn = 0
    unhanded = InstanceCredentials.objects.select_related("sandbox", "access_key").filter(
        superseded_at__isnull=False,
        fetched_at=None,
        shown_at=None,
        forgotten_at=None,
        expires_at__gt=now,
    )
    for credentials in unhanded.order_by("superseded_at")[:FORGET_BATCH]:
        claimed = InstanceCredentials.objects.filter(
            pk=credentials.pk, fetched_at=None, shown_at=None, forgotten_at=None
        ).update(forgotten_at=now)
        if claimed != 1:
            continue  # handed out meanwhile: it stays valid until its Expiration
        AccessKey.objects.filter(pk=credentials.access_key_id).update(expires_at=now)
        with contextlib.suppress(
            connection.SandboxServerError, connection.SandboxServerUnavailable
        ):
            connection.role_credentials_forget(
                credentials.sandbox.account_id, credentials.access_key.access_key_id
            )
        withdrawn += 1
        topic_changed(f"creds:{credentials.sandbox.account_id}")  # its timeline shows it
    return withdrawn


def credentials_prune(*, now: datetime) -> int:
    """Delete the rows (and keys) of sets forgotten over PRUNE_AFTER ago, expired by then or
    withdrawn (never handed out), except what the lab's checks look for (``labs/checks.py``):
    each instance's first set, its latest, its latest used one (step 5), its latest fetched one
    (step 4) and its two most recently seen, fetched or shown (step 6)."""
    chains = InstanceCredentials.objects.values(*CHAIN)
    kept_first = chains.annotate(first=Min("pk")).values("first")
    kept_latest = chains.annotate(latest=Max("pk")).values("latest")
    kept_used = (
        chains.filter(access_key__last_used_at__isnull=False)
        .annotate(last=Max("pk"))
        .values("last")
    )
    kept_fetched = _latest_per_chain(
        InstanceCredentials.objects.filter(fetched_at__isnull=False), by=F("fetched_at"), keep=1
    )
    # When the learner first saw a set, as checks._seen_at: the earlier of fetched and shown
    seen_at = Least(Coalesce("fetched_at", "shown_at"), Coalesce("shown_at", "fetched_at"))
    kept_seen = _latest_per_chain(
        InstanceCredentials.objects.filter(Q(fetched_at__isnull=False) | Q(shown_at__isnull=False)),
        by=seen_at,
        keep=2,
    )
    cutoff = now - PRUNE_AFTER
    keys = list(
        InstanceCredentials.objects.filter(forgotten_at__lt=cutoff)
        .filter(Q(expires_at__lt=cutoff) | Q(fetched_at=None, shown_at=None))
        .exclude(pk__in=kept_first)
        .exclude(pk__in=kept_latest)
        .exclude(pk__in=kept_used)
        .exclude(pk__in=kept_fetched)
        .exclude(pk__in=kept_seen)
        .values_list("access_key_id", flat=True)[:PRUNE_BATCH]
    )
    if keys:
        AccessKey.objects.filter(pk__in=keys).delete()  # their sets go with them (cascade)
    return len(keys)


def _latest_per_chain(sets, *, by, keep: int):
    """A subquery of the pks of each chain's ``keep`` newest sets by ``by`` (ties: newer pk)."""
    ranked = sets.annotate(
        rank=Window(
            RowNumber(),
            partition_by=[F(name) for name in CHAIN],
            order_by=[by.desc(), F("pk").desc()],
        )
    )
    return ranked.filter(rank__lte=keep).values("pk")
