"""Rewind: take a sandbox back to how it was at an earlier moment, built from its replay log.

The gate records every call that changed the sandbox with the seed moto drew its ids from
(``SandboxCall``). Keeping the calls made up to the moment and replaying them on a fresh account
(``sandbox_rebuild``, what a restart does) gives the sandbox as it was then, with the same role,
profile, instance and association ids. The lab key stays; role credentials and the keys of the
learner's own IAM users issued after the moment go (their instance or user may not exist any
more, and the rebuilt account does not know them); role credentials issued before come back with
the rebuild, as after a restart.
"""

import logging
import time
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from learnlab.sandbox import connection
from learnlab.sandbox.models import AccessKey, Sandbox, SandboxCall
from learnlab.sandbox.services import call_log_size, sandbox_rebuild

log = logging.getLogger(__name__)
FRESH_REBUILD_WAIT_SECONDS = 15.0  # a rebuild of a 2,000-call log takes a few seconds


def sandbox_rewind(*, sandbox: Sandbox, to: datetime | None, keep_first: int = 0) -> int:
    """Take ``sandbox`` back to how it was at ``to``: only the calls made up to then are kept
    (None: none but the first ``keep_first`` calls, a lab's prepared state) and replayed on a
    fresh account with their seeds. Returns how many calls were dropped.

    The account is dropped on the sandbox server first: if the server refuses (it answers,
    but the account is being rebuilt, say), this raises connection.SandboxServerError and
    nothing changed, the log included. Then the log is cut and the account rebuilt ``fresh``
    from it (whatever a rebuild begun before the cut put back is dropped again). Raises
    connection.SandboxServerUnavailable when the server does not answer; the sandbox is then
    marked dropped and comes back (rewound) on its next use, as after a restart."""
    try:
        connection.account_drop(sandbox.account_id, server=sandbox.server)
    except connection.SandboxServerUnavailable as error:
        unanswered = error  # down, restarting: the cut below holds, rebuilt on next use
    else:
        unanswered = None
    with transaction.atomic():
        locked = Sandbox.objects.select_for_update().get(pk=sandbox.pk)
        calls = SandboxCall.objects.filter(sandbox=locked).order_by("pk")
        if to is None:
            kept_pks = list(calls.values_list("pk", flat=True)[:keep_first])
            dropped = calls.exclude(pk__in=kept_pks)
        else:
            dropped = calls.filter(made_at__gt=to)
        count = dropped.count()
        dropped.delete()
        kept = list(SandboxCall.objects.filter(sandbox=locked))
        # Credentials issued after the moment did not exist then (nor, maybe, their instance or
        # user): the rebuilt account does not know them, so the gate must not either.
        later = AccessKey.objects.filter(
            sandbox=locked, kind__in=(AccessKey.Kind.ROLE_SESSION, AccessKey.Kind.IAM_USER)
        )
        if to is not None:
            later = later.filter(created_at__gt=to)
        later.delete()
        used_later = Q(last_used_at__gt=to) if to is not None else Q(last_used_at__isnull=False)
        AccessKey.objects.filter(sandbox=locked).filter(used_later).update(last_used_at=None)
        fresh = {
            "log_calls": len(kept),
            "log_bytes": sum(call_log_size(call) for call in kept),
            "status": Sandbox.Status.DROPPED,  # a call meanwhile rebuilds it, rewound
            "rebuild_failures": 0,
            "rebuild_after": None,
        }
        Sandbox.objects.filter(pk=locked.pk).update(**fresh)
    for name, value in fresh.items():
        setattr(sandbox, name, value)
    if unanswered is not None:
        raise unanswered
    _rebuild_fresh(sandbox)
    log.info("rewound sandbox %s: %s calls dropped, %s kept", sandbox.account_id, count, len(kept))
    return count


def _rebuild_fresh(sandbox: Sandbox) -> None:
    """The rewound account rebuilt from the cut log; while another rebuild of it (begun
    before the cut) replays, the server answers 503: wait for it, then drop what it made."""
    deadline = time.monotonic() + FRESH_REBUILD_WAIT_SECONDS
    while True:
        try:
            sandbox_rebuild(sandbox=sandbox, fresh=True)
            return
        except connection.SandboxServerError as error:
            if error.status != 503 or time.monotonic() >= deadline:
                raise
        time.sleep(0.2)
