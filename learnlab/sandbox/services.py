"""Sandbox lifecycle: provision, rebuild, reset, drop, reap.

Calls to the sandbox server happen outside database transactions so a slow server never holds
SQLite's write lock.
"""

import functools
import logging
import secrets
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from learnlab.learners.models import Learner
from learnlab.lib.clock import SPEEDS
from learnlab.sandbox import connection
from learnlab.sandbox.calls import RecordedCall
from learnlab.sandbox.models import (
    LAB_USER_NAME,
    AccessKey,
    Sandbox,
    SandboxCall,
    SandboxServer,
    ServerBoot,
)

log = logging.getLogger(__name__)

TOUCH_EVERY = timedelta(seconds=60)
RECORD_MAX_BYTES = 1024 * 1024  # a bigger body (an S3 upload) is not kept for replay
MOTO_DEFAULT_ACCOUNT = "123456789012"
# The replay log's cap per sandbox: a rebuild replays at most this much.
LOG_MAX_CALLS = 2000
LOG_MAX_BYTES = 4 * 1024 * 1024
NOT_REPLAYABLE_QUERY = {"uploads", "uploadId"}  # S3 multipart: ids from os.urandom
REBUILD_BACKOFF_MAX = timedelta(minutes=5)
# The clock rebuilds lost sandboxes several to a request (PUT /_admin/rebuilds): at most this
# many, with this many recorded calls together (a bigger log goes alone), so a batch is back
# within a second and its learners are marked ready soon after their sandboxes are.
REBUILD_BATCH_SANDBOXES = 20
REBUILD_BATCH_CALLS = 100
REBUILD_BATCH_BYTES = 1024 * 1024
REBUILDS_IN_FLIGHT = 2  # one batch replaying on the server, the next waiting behind it


def _new_account_id() -> str:
    while True:
        account_id = f"{secrets.randbelow(9 * 10**11) + 10**11}"
        if account_id != MOTO_DEFAULT_ACCOUNT:
            return account_id


def sandbox_for_learner(*, learner: Learner) -> Sandbox:
    """The learner's sandbox, provisioned on first use and rebuilt if it was dropped."""
    lab_key = AccessKey.objects.filter(sandbox=OuterRef("pk"), kind=AccessKey.Kind.LAB_USER)
    sandbox = (
        Sandbox.objects.filter(learner=learner).annotate(has_lab_key=Exists(lab_key)).first()
    )  # one query on every page: whether the lab key is there comes with the row
    if sandbox is None:
        return sandbox_provision(learner=learner)
    if sandbox.status != Sandbox.Status.READY:
        sandbox_rebuild(sandbox=sandbox)
    elif not sandbox.has_lab_key:
        # Lost its lab key (it cannot be shown or used): built again from its log, whose
        # rebuild gives the lab user a new key, rather than Reconnecting for ever.
        sandbox_rebuild(sandbox=sandbox, fresh=True)
    sandbox_touch(sandbox=sandbox)
    return sandbox


def _least_loaded_server() -> str:
    """The name of the open sandbox server (listed, not draining) holding the fewest live
    sandboxes, the first listed on a tie; if every listed one is draining, of those."""
    names = connection.server_names()
    if len(names) == 1:
        return names[0]
    draining = SandboxServer.objects.filter(name__in=names, draining_since__isnull=False)
    closed = set(draining.values_list("name", flat=True))
    candidates = [name for name in names if name not in closed] or names
    live = (Sandbox.Status.READY, Sandbox.Status.LOST)
    counts = dict(
        Sandbox.objects.filter(status__in=live, server__in=candidates)
        .values_list("server")
        .annotate(count=Count("pk"))
    )
    return min(candidates, key=lambda server: counts.get(server, 0))


def sandbox_provision(*, learner: Learner) -> Sandbox:
    """Create a fresh moto account with its lab user and keys, and record it."""
    server = _least_loaded_server()
    for _attempt in range(5):
        account_id = _new_account_id()
        if Sandbox.objects.filter(account_id=account_id).exists():
            continue
        created = connection.account_bootstrap(account_id, user_name=LAB_USER_NAME, server=server)
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
            connection.account_drop(account_id, server=server)
            existing = Sandbox.objects.filter(learner=learner).first()
            if existing is not None:
                return existing
            continue
        log.info("provisioned sandbox %s for %s", account_id, learner.pk)
        sandbox.just_provisioned = True
        return sandbox
    raise RuntimeError("could not find a free sandbox account id")


def sandbox_rebuild(*, sandbox: Sandbox, fresh: bool = False) -> None:
    """Recreate the account with the learner's existing lab keys, replay the calls that built
    it and bring back its instances' live credentials. The sandbox server replays call by call
    (other learners' calls go on in between; this account's get a 503 meanwhile), and does
    nothing when the account is there already (another rebuild won), unless ``fresh``: then
    it first drops whatever the account holds (a rewind: what is there is not the log).

    A sandbox that lost its lab key gets a new one (its lab user bootstrapped again). A
    rebuild that failed is not retried before its backoff ends (``rebuild_after``): until
    then this raises SandboxServerUnavailable at once, which the gate answers with a 503."""
    now = timezone.now()
    if sandbox.rebuild_after is not None and sandbox.rebuild_after > now:
        raise connection.SandboxServerUnavailable(
            f"sandbox {sandbox.account_id}: rebuild backing off until {sandbox.rebuild_after}"
        )
    request = _rebuild_requests([sandbox], now=now)[sandbox.pk]
    try:
        if fresh:
            body = request | {"user_name": LAB_USER_NAME, "fresh": True}
            body["replay"] = [call.as_json() for call in request["replay"]]
            del body["account_id"]
            rebuilt = connection.admin_call(
                "PUT",
                f"accounts/{sandbox.account_id}",
                body,
                server=sandbox.server,
                timeout=connection.REBUILD_DEADLINE,
            )
        else:
            rebuilt = connection.account_bootstrap(
                sandbox.account_id,
                user_name=LAB_USER_NAME,
                access_key_id=request["access_key_id"],
                secret_access_key=request["secret_access_key"],
                replay=request["replay"],
                role_sessions=request["role_sessions"],
            )
    except connection.SANDBOX_ERRORS as error:
        if getattr(error, "status", None) != 503:  # 503: being rebuilt by someone else
            _rebuild_failed(sandbox=sandbox)
        raise
    if request["access_key_id"] is None:
        _lab_key_given(sandbox, rebuilt)
    _rebuilt([sandbox], now=now)
    log.info(
        "rebuilt sandbox %s: %s calls replayed, %s failed",
        sandbox.account_id,
        rebuilt.get("replayed"),
        rebuilt.get("replay_failed"),
    )


def _rebuild_requests(sandboxes: list[Sandbox], *, now) -> dict[int, dict]:
    """What rebuilding each sandbox takes (its lab key, its log, its live role sessions), by
    sandbox pk, read in two queries whatever the number of sandboxes. A sandbox that lost its
    lab key has None for it: the server bootstraps its lab user with a new key (which
    ``_lab_key_given`` records), so it never stays "Reconnecting" for want of one."""
    pks = [sandbox.pk for sandbox in sandboxes]
    keys, sessions, calls = {}, {pk: [] for pk in pks}, {pk: [] for pk in pks}
    for key in AccessKey.objects.filter(sandbox__in=pks):
        if key.kind == AccessKey.Kind.LAB_USER:
            keys[key.sandbox_id] = key
        elif key.expires_at is not None and key.expires_at > now:
            sessions[key.sandbox_id].append(_role_session(key))
    for call in SandboxCall.objects.filter(sandbox__in=pks).order_by("pk"):
        calls[call.sandbox_id].append(call.recorded())
    return {
        sandbox.pk: {
            "account_id": sandbox.account_id,
            "access_key_id": keys[sandbox.pk].access_key_id if sandbox.pk in keys else None,
            "secret_access_key": (
                keys[sandbox.pk].secret_access_key if sandbox.pk in keys else None
            ),
            "replay": calls[sandbox.pk],
            "role_sessions": sessions[sandbox.pk],
        }
        for sandbox in sandboxes
    }


def _lab_key_given(sandbox: Sandbox, bootstrapped: dict) -> None:
    """Record the lab key the sandbox server made for a sandbox that had none (its lab user
    bootstrapped again), unless another request recorded one meanwhile."""
    with transaction.atomic():
        locked = Sandbox.objects.select_for_update().get(pk=sandbox.pk)
        if locked.access_keys.filter(kind=AccessKey.Kind.LAB_USER).exists():
            return
        AccessKey.objects.create(
            sandbox=locked,
            access_key_id=bootstrapped["access_key_id"],
            secret_access_key=bootstrapped["secret_access_key"],
            principal_arn=bootstrapped["user_arn"],
            kind=AccessKey.Kind.LAB_USER,
        )
    log.warning("sandbox %s had no lab key: its lab user has a new one", sandbox.account_id)


def _rebuilt(sandboxes: list[Sandbox], *, now) -> None:
    done = {"status": Sandbox.Status.READY, "built_at": now}
    done |= {"rebuild_failures": 0, "rebuild_after": None}
    Sandbox.objects.filter(pk__in=[sandbox.pk for sandbox in sandboxes]).update(**done)
    for sandbox in sandboxes:
        for field, value in done.items():
            setattr(sandbox, field, value)


def _rebuild_failed(*, sandbox: Sandbox) -> None:
    """Back off: 2, 4, 8... seconds, at most REBUILD_BACKOFF_MAX, before the next attempt."""
    failures = sandbox.rebuild_failures + 1
    wait = min(2**failures, REBUILD_BACKOFF_MAX.total_seconds())
    after = timezone.now() + timedelta(seconds=wait)
    Sandbox.objects.filter(pk=sandbox.pk).update(rebuild_failures=failures, rebuild_after=after)
    sandbox.rebuild_failures, sandbox.rebuild_after = failures, after
    log.warning(
        "rebuild of sandbox %s failed %s times: next in %s s", sandbox.account_id, failures, wait
    )


def _role_session(key: AccessKey) -> dict:
    *_, role_name, session_name = key.principal_arn.split("/")  # ...:assumed-role/ROLE/SESSION
    return {
        "role_name": role_name,
        "session_name": session_name,
        "access_key_id": key.access_key_id,
        "secret_access_key": key.secret_access_key,
        "token": key.session_token,
    }


def sandbox_call_record(*, sandbox: Sandbox, call: RecordedCall) -> None:
    """Keep a successful call that changed the sandbox, for a rebuild to replay; not one whose
    effect moto does not draw from the seed (a replay of it would fail or differ)."""
    size = call_log_size(call)
    if size > RECORD_MAX_BYTES:
        log.warning("not recording a %s-byte %s for replay", size, call.action)
        return
    if not _replays_faithfully(call.method, call.path):
        return
    SandboxCall.objects.create(sandbox=sandbox, **asdict(call))
    Sandbox.objects.filter(pk=sandbox.pk).update(
        log_calls=F("log_calls") + 1, log_bytes=F("log_bytes") + size
    )


def _replays_faithfully(method: str, path: str) -> bool:
    """S3 multipart upload ids come from os.urandom, not moto's seed: the upload id a replayed
    UploadPart or CompleteMultipartUpload names never exists again."""
    query = parse_qs(urlsplit(path).query, keep_blank_values=True)
    return not NOT_REPLAYABLE_QUERY.intersection(query)


def call_log_size(call: RecordedCall | SandboxCall) -> int:
    """What a call adds to the replay log: its body, path and recorded headers (a call about
    to be kept, or one kept already: rewind counts the log it leaves the same way)."""
    headers = sum(len(name) + len(value) for name, value in call.headers.items())
    return len(call.body) + len(call.path) + headers


def sandbox_log_has_room(*, sandbox: Sandbox) -> bool:
    """Whether the replay log takes another call. When it is full the gate refuses calls that
    change the sandbox (resetting the lab empties it), so a rebuild stays short and faithful."""
    return sandbox.log_calls < LOG_MAX_CALLS and sandbox.log_bytes < LOG_MAX_BYTES


def sandbox_servers_watch() -> int:
    """Notice sandbox servers that restarted (a new boot id) and mark what they held as lost;
    returns how many sandboxes were. Sandboxes idle long enough to be reaped are dropped
    instead: they are rebuilt when their learner comes back, not now."""
    lost = 0
    idle_cutoff = timezone.now() - timedelta(hours=settings.LEARNLAB_SANDBOX_IDLE_HOURS)
    for server in connection.server_names():
        try:
            boot_id = connection.health(server=server, timeout=1.0)["boot_id"]
        except connection.SANDBOX_ERRORS:
            continue  # down or restarting: looked at again on the next tick
        known = ServerBoot.objects.filter(server=server).first()
        if known is not None and known.boot_id == boot_id:
            continue
        held = Sandbox.objects.filter(server=server, status=Sandbox.Status.READY)
        with transaction.atomic():
            held.filter(last_used_at__lt=idle_cutoff).update(status=Sandbox.Status.DROPPED)
            lost += held.update(status=Sandbox.Status.LOST)
            ServerBoot.objects.update_or_create(server=server, defaults={"boot_id": boot_id})
        if known is not None:
            log.warning("sandbox server %s restarted: %s sandboxes to rebuild", server, lost)
    return lost


def sandbox_rebuild_lost(*, budget_seconds: float) -> int:
    """Rebuild lost sandboxes, the most recently used first, for up to ``budget_seconds`` (a
    batch at least); returns how many came back.

    Several go in one request (``_rebuild_batch``); the server replays them one after the
    other, handing its lock to other learners' calls in between. The requests are pipelined:
    while the server replays one batch, the next is read from the database and sent to wait
    behind it (``REBUILDS_IN_FLIGHT``), so the server never waits for this side between
    batches. A sandbox another request is rebuilding (a web worker, for its learner's own
    call) is left to it."""
    deadline = time.monotonic() + budget_seconds
    rebuilt, passed, pending = 0, set(), deque()
    down = False
    while not down:
        if passed and time.monotonic() >= deadline:
            break  # one batch at least, whatever the budget
        batch = _rebuild_batch(exclude=passed)
        if not batch:
            break
        passed.update(sandbox.pk for sandbox in batch)
        pending.append(_rebuild_send(batch))
        while pending and (len(pending) >= REBUILDS_IN_FLIGHT or pending[0][-1].done()):
            back, down = _rebuild_answered(*pending.popleft())
            rebuilt += back
            if down:
                break  # down again: the next tick goes on
    while pending:  # what was sent is answered (or failed) before the tick ends
        rebuilt += _rebuild_answered(*pending.popleft())[0]
    return rebuilt


def _rebuild_batch(*, exclude: set) -> list[Sandbox]:
    """The next lost sandboxes due a rebuild, most recently used first, on one server, within
    REBUILD_BATCH_SANDBOXES, _CALLS and _BYTES (the first one whatever its size). One whose
    rebuild failed before goes alone."""
    due = Q(rebuild_after__isnull=True) | Q(rebuild_after__lte=timezone.now())
    lost = (
        Sandbox.objects.filter(due, status=Sandbox.Status.LOST)
        .exclude(pk__in=exclude)
        .order_by("-last_used_at", "-pk")
    )
    candidates = list(lost[:REBUILD_BATCH_SANDBOXES])
    logged = dict(  # the log as it is, whatever its running count says
        SandboxCall.objects.filter(sandbox__in=candidates)
        .values_list("sandbox")
        .annotate(count=Count("pk"))
    )
    batch, calls, size = [], 0, 0
    for sandbox in candidates:
        log_calls = logged.get(sandbox.pk, 0)
        if batch and (
            sandbox.rebuild_failures
            or batch[0].rebuild_failures
            or sandbox.server != batch[0].server
            or calls + log_calls > REBUILD_BATCH_CALLS
            or size + sandbox.log_bytes > REBUILD_BATCH_BYTES
        ):
            break  # the order is kept: this one leads the next batch
        batch.append(sandbox)
        calls, size = calls + log_calls, size + sandbox.log_bytes
        if len(batch) == REBUILD_BATCH_SANDBOXES:
            break
    return batch


def _rebuild_send(batch: list[Sandbox]):
    """Read what rebuilding ``batch`` takes and send it (``PUT /_admin/rebuilds``) from the
    sender thread; returns (batch, when it was read, the accounts without a lab key, the
    answer's future)."""
    now = timezone.now()
    found = _rebuild_requests(batch, now=now)
    requests = []
    for sandbox in batch:
        request = found[sandbox.pk] | {"user_name": LAB_USER_NAME}
        request["replay"] = [call.as_json() for call in request["replay"]]
        requests.append(request)
    keyless = {request["account_id"] for request in requests if not request["access_key_id"]}
    answer = _sender().submit(
        connection.admin_call,
        "PUT",
        "rebuilds",
        {"accounts": requests},
        server=batch[0].server,
        timeout=connection.REBUILD_DEADLINE,
    )
    return batch, now, keyless, answer


def _rebuild_answered(batch: list[Sandbox], now, keyless, answer) -> tuple[int, bool]:
    """Mark what ``answer`` (a future of ``_rebuild_send``) brought back as ready; returns how
    many came back and whether the server was down."""
    try:
        answer = answer.result()
    except connection.SandboxServerUnavailable:
        # Down, or it died or hung on the way (the log of one of these, maybe): each backs
        # off, and is rebuilt alone from now on (_rebuild_batch), so one sandbox whose log
        # brings the server down keeps backing off and the others come back.
        for sandbox in batch:
            _rebuild_failed(sandbox=sandbox)
        return 0, True
    except connection.SandboxServerError as error:
        log.warning("batch rebuild refused (%s): rebuilding one by one", error)
        return _rebuild_one_by_one(batch), False
    by_account = {sandbox.account_id: sandbox for sandbox in batch}
    rebuilt = answer.get("rebuilt", {})
    back = [by_account[account] for account in rebuilt if account in by_account]
    for account in keyless.intersection(rebuilt):
        _lab_key_given(by_account[account], rebuilt[account])
    _rebuilt(back, now=now)
    for account, why in answer.get("failed", {}).items():
        if account in by_account:
            log.warning("could not rebuild sandbox %s: %s", account, why)
            _rebuild_failed(sandbox=by_account[account])
    return len(back), False


@functools.cache
def _sender() -> ThreadPoolExecutor:
    """The one thread that sends rebuild requests (no database work: the caller's thread
    reads and writes), one after the other, so the next waits behind the one replaying."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-rebuild")


def _rebuild_one_by_one(batch: list[Sandbox]) -> int:
    rebuilt = 0
    for sandbox in batch:
        try:
            sandbox_rebuild(sandbox=sandbox)
        except connection.SandboxServerError as error:
            log.warning("could not rebuild sandbox %s: %s", sandbox.account_id, error)
            continue  # stays lost, tried again after its backoff; the others go on
        rebuilt += 1
    return rebuilt


def sandbox_drop(*, sandbox: Sandbox) -> None:
    """Free the account on the sandbox server; the record stays for a later rebuild."""
    connection.account_drop(sandbox.account_id)
    with transaction.atomic():
        sandbox.access_keys.filter(kind=AccessKey.Kind.ROLE_SESSION).delete()
        Sandbox.objects.filter(pk=sandbox.pk).update(status=Sandbox.Status.DROPPED)
    sandbox.status = Sandbox.Status.DROPPED


def sandbox_reset(*, sandbox: Sandbox) -> None:
    """Wipe everything the learner built: the same account, nothing in it, and new keys.
    Works whatever state the sandbox is in (lost, dropped, backing off after a failure)."""
    sandbox_drop(sandbox=sandbox)
    sandbox.calls.all().delete()
    sandbox.access_keys.filter(kind=AccessKey.Kind.IAM_USER).delete()  # their users are gone
    fresh = {"log_calls": 0, "log_bytes": 0, "rebuild_failures": 0, "rebuild_after": None}
    Sandbox.objects.filter(pk=sandbox.pk).update(**fresh)
    for field, value in fresh.items():
        setattr(sandbox, field, value)
    sandbox_rebuild(sandbox=sandbox)
    sandbox_keys_rotate(sandbox=sandbox)


def sandbox_keys_rotate(*, sandbox: Sandbox) -> AccessKey:
    """A new lab-user key in moto and at the gate; the old one stops working at once."""
    if sandbox.status != Sandbox.Status.READY:
        sandbox_rebuild(sandbox=sandbox)
    old = sandbox.lab_key()

    def rotate() -> dict:
        return connection.access_key_rotate(
            sandbox.account_id, user_name=LAB_USER_NAME, retire=old.access_key_id
        )

    try:
        new = rotate()
    except connection.SandboxServerError as error:
        if error.status != 404:
            raise
        sandbox_rebuild(sandbox=sandbox)  # the server lost the account unnoticed so far
        new = rotate()
    with transaction.atomic():
        old.delete()
        return AccessKey.objects.create(
            sandbox=sandbox,
            access_key_id=new["access_key_id"],
            secret_access_key=new["secret_access_key"],
            principal_arn=old.principal_arn,
            kind=AccessKey.Kind.LAB_USER,
        )


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


def sandbox_set_clock(*, sandboxes, speed: int, paused: bool | None = None) -> None:
    """Run these sandboxes' lab clock (a queryset) at ``speed``, and pause or resume their
    rotation when ``paused`` is given; sets issued from now on follow it."""
    if speed not in SPEEDS:
        raise ClockSpeedError(f"The lab clock runs from {SPEEDS[0]}x to {SPEEDS[-1]}x real time.")
    changes = {"clock_speed": speed} | ({} if paused is None else {"rotation_paused": paused})
    sandboxes.update(**changes)


def sandbox_set_clock_speed(*, sandbox: Sandbox, speed: int) -> None:
    """One learner's own lab clock speed."""
    sandbox_set_clock(sandboxes=Sandbox.objects.filter(pk=sandbox.pk), speed=speed)
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
    minted = connection.role_credentials_mint(
        sandbox.account_id,
        role_name=role_name,
        session_name=session_name,
        duration_seconds=duration_seconds,
        region=sandbox.region,
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
    connection.role_credentials_forget(key.sandbox.account_id, key.access_key_id)
    key.delete()
