"""A real ``kill -9`` of a sandbox server holding a 3,000-call log (with a call that cannot be
replayed in it): the clock's rebuild brings the sandbox back, and another learner's calls stay
fast all the while, because the rebuild takes the server's lock one replayed call at a time."""

import secrets
import signal
import threading
import time

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from learnlab.gate.client import aws_client
from learnlab.sandbox.models import Sandbox, SandboxCall
from learnlab.sandbox.services import sandbox_rebuild_lost, sandbox_servers_watch
from learnlab.site.launch import free_port, sandbox_server_start
from tests.helpers import busy_log, launch_with_role
from tests.sandbox.direct import query
from tests.sandbox.test_replay_poison import poison_call

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

LOG_CALLS = 3000


@pytest.fixture
def own_server(settings, sandbox_server):
    """A sandbox server of this test's own, so killing it spares the session's."""
    port, secret = free_port(), secrets.token_hex(16)
    settings.LEARNLAB_SANDBOX_URL = f"http://127.0.0.1:{port}"
    settings.LEARNLAB_SANDBOX_SECRET = secret
    server = {"url": settings.LEARNLAB_SANDBOX_URL, "secret": secret, "port": port}
    server["process"] = sandbox_server_start(port=port, secret=secret)
    yield server
    server["process"].kill()
    server["process"].wait()


def _long_log(sandbox) -> None:
    """3,000 recorded calls, as a busy learner's log: CreateRole and DeleteRole, in pairs."""
    calls = busy_log(sandbox, LOG_CALLS)
    calls.insert(len(calls) // 2, poison_call(sandbox, f"notes-{sandbox.account_id}"))
    SandboxCall.objects.bulk_create(calls)


def _rebuild_in_background(done: threading.Event) -> threading.Thread:
    def run():
        try:  # as the clock does, tick after tick; a few ticks, so unfixed code ends too
            for _tick in range(3):
                if not Sandbox.objects.filter(status=Sandbox.Status.LOST).exists():
                    break
                sandbox_rebuild_lost(budget_seconds=60)
        finally:
            db_connection.close()
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_kill_9_with_a_long_poisoned_log_rebuilds_without_stalling_others(
    own_server, make_sandbox
):
    busy, other = make_sandbox(), make_sandbox()
    instance_id = launch_with_role(busy)
    aws_client("s3", sandbox=busy).create_bucket(Bucket=f"notes-{busy.account_id}")
    _long_log(busy)
    launch_with_role(other, name="mine")
    now = timezone.now()
    Sandbox.objects.filter(pk=other.pk).update(last_used_at=now)  # rebuilt first
    Sandbox.objects.filter(pk=busy.pk).update(last_used_at=now - timezone.timedelta(minutes=1))
    sandbox_servers_watch()  # this server's first boot id: remembered
    sandbox_rebuild_lost(budget_seconds=5)

    own_server["process"].send_signal(signal.SIGKILL)
    own_server["process"].wait()
    own_server["process"] = sandbox_server_start(
        port=own_server["port"], secret=own_server["secret"]
    )
    assert sandbox_servers_watch() == 2
    done = threading.Event()
    rebuild = _rebuild_in_background(done)

    slowest, busy_refused, other_calls = 0.0, set(), 0
    while not done.is_set():
        other.refresh_from_db()
        if other.status != Sandbox.Status.READY:
            time.sleep(0.05)
            continue
        started = time.monotonic()
        roles = aws_client("iam", sandbox=other).list_roles()["Roles"]
        slowest = max(slowest, time.monotonic() - started)
        other_calls += 1
        assert [r["RoleName"] for r in roles] == ["mine"]
        status, text = query(own_server, busy, "iam", "2010-05-08", "Action=ListRoles")
        if status == 503:
            busy_refused.add("ServiceUnavailable" in text)
        time.sleep(0.05)
    rebuild.join(5)

    assert slowest < 1.0, f"another learner's call took {slowest:.2f} s during the rebuild"
    assert other_calls >= 5, "the rebuild ended before the other learner could be timed"
    assert busy_refused == {True}  # the rebuilt account's own calls: a 503 meanwhile
    busy.refresh_from_db()
    assert busy.status == Sandbox.Status.READY
    roles = aws_client("iam", sandbox=busy).list_roles()["Roles"]
    assert [r["RoleName"] for r in roles] == ["app"]
    reservations = aws_client("ec2", sandbox=busy).describe_instances()["Reservations"]
    assert reservations[0]["Instances"][0]["InstanceId"] == instance_id
