"""Moving sandboxes off a sandbox server: a host that leaves (``manage.py sandbox_drain``), and
sandboxes whose server the list no longer names (``sandboxes_unlisted_move``, each clock tick).

A sandbox moves by its record: it is pointed at another server and rebuilt there from its
recorded calls with their seeds (``services.sandbox_rebuild``), so its learner keeps the same
keys, role, profile and instance ids. Per sandbox, most recently used first:

1. pointed at the least loaded open server, marked lost, its rebuild held off for
   ``settle`` seconds (compare-and-set: a sandbox someone else changed meanwhile is read again).
   From now on its learner's calls get "Reconnecting" (a 503 their SDK retries), and calls
   already on their way to the old server land there and are recorded meanwhile;
2. rebuilt on the new server from the log as it is after the settle;
3. dropped from the old server (``moved_from`` remembers a drop still owed, so a re-run after a
   crash, or the next move of the same sandbox, frees that copy first: a stale copy on a server
   would otherwise be taken for the account, since a rebuild of an account that is there
   already replays nothing).

Other learners are never held up: only the sandboxes being moved answer "Reconnecting".
Re-running a drain that stopped halfway goes on from where it was.
"""

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from learnlab.sandbox import connection
from learnlab.sandbox.models import Sandbox, SandboxServer
from learnlab.sandbox.services import _least_loaded_server, sandbox_rebuild

log = logging.getLogger(__name__)

SETTLE_SECONDS = 2.0  # calls already sent to the old server are answered and recorded
BATCH = 5  # sandboxes moved together: one settle for all of them
WAIT_SECONDS = 60.0  # for a rebuild someone else (the gate, the clock) is doing
UNLISTED_PER_TICK = 500


class DrainError(Exception):
    """The drain cannot start: what is wrong and what to do, in words for the operator."""


@dataclass
class DrainResult:
    server: str
    moved: list[str] = field(default_factory=list)  # account ids, rebuilt elsewhere
    pointed: list[str] = field(default_factory=list)  # reaped: rebuilt elsewhere on next use
    failed: dict[str, str] = field(default_factory=dict)  # left lost there: the clock retries


def server_resolve(text: str) -> str:
    """The name of the server ``text`` means: a listed server's name, URL or host:port, or the
    name of an unlisted one that sandboxes still record."""
    listed = connection.server_find(text)
    if listed is not None:
        return listed.name
    name = text.strip()
    if Sandbox.objects.filter(server=name).exists() or SandboxServer.objects.filter(name=name):
        return name
    names = ", ".join(f"{s.name} ({s.url})" for s in connection.servers())
    raise DrainError(f"No sandbox server {name!r}. The listed ones: {names}.")


def server_drain_start(name: str) -> None:
    """Take ``name`` out of the least-loaded choice: no new sandbox goes there."""
    server, _ = SandboxServer.objects.get_or_create(name=name)
    if server.draining_since is None:
        SandboxServer.objects.filter(name=name, draining_since=None).update(
            draining_since=timezone.now()
        )


def server_drain_cancel(name: str) -> None:
    """``name`` takes new sandboxes again (those already moved stay where they are)."""
    SandboxServer.objects.filter(name=name).update(draining_since=None)


def servers_draining() -> set[str]:
    found = SandboxServer.objects.filter(draining_since__isnull=False)
    return set(found.values_list("name", flat=True))


def server_drain(
    name: str,
    *,
    settle: float = SETTLE_SECONDS,
    batch: int = BATCH,
    report: Callable[[str], None] = log.info,
) -> DrainResult:
    """Move every sandbox off ``name`` (see the module docstring); idempotent."""
    server_drain_start(name)
    open_servers = [s for s in connection.server_names() if s not in servers_draining()]
    if not open_servers:
        raise DrainError(
            f"Every listed sandbox server is draining: there is nowhere to move {name}'s "
            "sandboxes. Add a server to LEARNLAB_SANDBOX_URLS, or cancel a drain "
            "(manage.py sandbox_drain --cancel NAME)."
        )
    result = DrainResult(server=name)
    _drops_owed(name, report)
    total = Sandbox.objects.filter(server=name).count()
    report(f"draining {name}: {total} sandboxes to move, most recently used first")
    tries = Counter()  # a sandbox changed under us three times running is left for a re-run
    while sandboxes := list(
        Sandbox.objects.filter(server=name)
        .exclude(pk__in=[pk for pk, count in tries.items() if count >= 3])
        .order_by("-last_used_at", "-pk")[:batch]
    ):
        tries.update(sandbox.pk for sandbox in sandboxes)
        started = time.monotonic()
        moving = [s for s in sandboxes if _point_elsewhere(s, name, settle=settle, result=result)]
        if moving:
            time.sleep(max(0.0, settle - (time.monotonic() - started)))
        for sandbox in moving:
            _rebuild_there(sandbox, name, result=result)
            done = len(result.moved) + len(result.pointed) + len(result.failed)
            report(
                f"  {done}/{total} {sandbox.account_id} -> {sandbox.server}: "
                + ("failed, left to the clock" if sandbox.account_id in result.failed else "ready")
            )
    _drops_owed(name, report)
    left = Sandbox.objects.filter(server=name).count()
    report(
        f"drained {name}: {len(result.moved)} rebuilt elsewhere, {len(result.pointed)} idle "
        f"ones pointed elsewhere, {len(result.failed)} failed (the clock retries them), "
        f"{left} left"
    )
    return result


def _point_elsewhere(sandbox: Sandbox, source: str, *, settle: float, result: DrainResult) -> bool:
    """Step 1; True when the sandbox now awaits its rebuild elsewhere (False: reaped, only
    pointed elsewhere; or changed meanwhile, read again on the next pass)."""
    _drop_owed(sandbox)
    target = _least_loaded_server()
    if target == source:
        raise DrainError(f"{source} is the only server that can take sandboxes.")
    if sandbox.status == Sandbox.Status.DROPPED:
        moved = Sandbox.objects.filter(pk=sandbox.pk, server=source, status=sandbox.status)
        if moved.update(server=target):
            result.pointed.append(sandbox.account_id)
        return False
    changes = {
        "server": target,
        "status": Sandbox.Status.LOST,
        "rebuild_after": timezone.now() + timedelta(seconds=settle),
        "rebuild_failures": 0,
        "moved_from": source,
    }
    claimed = Sandbox.objects.filter(pk=sandbox.pk, server=source, status=sandbox.status)
    if not claimed.update(**changes):
        return False
    for attribute, value in changes.items():
        setattr(sandbox, attribute, value)
    return True


def _rebuild_there(sandbox: Sandbox, source: str, *, result: DrainResult) -> None:
    """Steps 2 and 3."""
    sandbox.refresh_from_db()
    deadline = time.monotonic() + WAIT_SECONDS
    while sandbox.status != Sandbox.Status.READY:
        try:
            sandbox_rebuild(sandbox=sandbox)
        except connection.SANDBOX_ERRORS as error:
            # Someone else's rebuild (503), a backoff after a failed try, or a server too busy
            # to answer in time (a loaded machine): all pass; only the deadline gives up.
            if time.monotonic() > deadline:
                result.failed[sandbox.account_id] = str(error)
                return
            time.sleep(0.2)
        sandbox.refresh_from_db()
    result.moved.append(sandbox.account_id)
    _drop_owed(sandbox)


def _drop_owed(sandbox: Sandbox) -> None:
    """Drop the copy a move left on ``moved_from``, if any (best effort: a server that is down
    or unlisted holds nothing anyone reaches, and a restart frees it)."""
    source = sandbox.moved_from
    if not source or source == sandbox.server:
        return
    try:
        connection.account_drop(sandbox.account_id, server=source)
    except connection.SANDBOX_ERRORS as error:
        if source in connection.server_names() and not isinstance(
            error, connection.SandboxServerUnavailable
        ):
            log.warning("could not drop %s's old copy on %s: %s", sandbox.account_id, source, error)
            return
    Sandbox.objects.filter(pk=sandbox.pk, moved_from=source).update(moved_from="")
    sandbox.moved_from = ""


def _drops_owed(source: str, report: Callable[[str], None]) -> None:
    """Free the copies an earlier, interrupted drain of ``source`` left there."""
    owed = list(Sandbox.objects.filter(moved_from=source).exclude(server=source))
    for sandbox in owed:
        _drop_owed(sandbox)
    if owed:
        report(f"  freed {len(owed)} copies an earlier drain left on {source}")


def sandboxes_unlisted_move(*, limit: int = UNLISTED_PER_TICK) -> int:
    """Point sandboxes recorded on a server the list no longer names at listed ones (the least
    loaded open ones, spread evenly), lost so that the clock rebuilds them from their calls (the
    reaped ones on next use); returns how many. Cheap when there are none: one query."""
    names = connection.server_names()
    stray = list(Sandbox.objects.exclude(server__in=names).order_by("-last_used_at")[:limit])
    if not stray:
        return 0
    draining = servers_draining()
    targets = [name for name in names if name not in draining] or names
    live = (Sandbox.Status.READY, Sandbox.Status.LOST)
    counts = dict(
        Sandbox.objects.filter(status__in=live, server__in=targets)
        .values_list("server")
        .annotate(count=Count("pk"))
    )
    load = {name: counts.get(name, 0) for name in targets}
    moved = 0
    for sandbox in stray:
        target = min(targets, key=lambda name: load[name])
        changes = {"server": target, "moved_from": "", "rebuild_failures": 0}
        if sandbox.status != Sandbox.Status.DROPPED:
            changes |= {"status": Sandbox.Status.LOST, "rebuild_after": None}
        claimed = Sandbox.objects.filter(pk=sandbox.pk, server=sandbox.server)
        if claimed.update(**changes):
            load[target] += 1
            moved += 1
    log.warning("%s sandboxes were on servers no longer listed: rebuilding them elsewhere", moved)
    return moved
