"""Recovery at class scale (issue 21): lost sandboxes come back most recently used first,
several to a request, with the ids their learners saw; while that goes on, a learner with no
sandbox or with one already back is answered, and only the learner whose own sandbox is still
missing reads "Reconnecting".

Losses are made as a restart makes them, on the session's sandbox server: the account dropped
on the server (``account_drop``, what a restart does to every account) and the record marked
lost (what ``sandbox_servers_watch`` does on a new boot id); ``test_rebuild_after_kill.py`` and
``tests/test_faults.py`` do it with a real ``kill -9``."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test import Client
from django.utils import timezone

from learnlab.gate.client import aws_client
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox import connection, services
from learnlab.sandbox.models import Sandbox, SandboxCall
from learnlab.sandbox.services import sandbox_rebuild_lost
from learnlab.site.launch import free_port
from tests.helpers import busy_log, launch_with_role
from tests.sandbox.direct import query

pytestmark = pytest.mark.django_db(transaction=True)

RECONNECTING = b'data-testid="reconnecting"'


def _lose(*sandboxes) -> None:
    """What a restart of the sandbox server does to these sandboxes."""
    for sandbox in sandboxes:
        connection.account_drop(sandbox.account_id)
    Sandbox.objects.filter(pk__in=[s.pk for s in sandboxes]).update(status=Sandbox.Status.LOST)


def _ready() -> set[int]:
    return set(Sandbox.objects.filter(status=Sandbox.Status.READY).values_list("pk", flat=True))


def _role_names(sandbox) -> list[str]:
    return [role["RoleName"] for role in aws_client("iam", sandbox=sandbox).list_roles()["Roles"]]


def _ids(sandbox) -> dict:
    iam, ec2 = aws_client("iam", sandbox=sandbox), aws_client("ec2", sandbox=sandbox)
    reservations = ec2.describe_instances()["Reservations"]
    associations = ec2.describe_iam_instance_profile_associations()[
        "IamInstanceProfileAssociations"
    ]
    return {
        "instances": [i["InstanceId"] for r in reservations for i in r["Instances"]],
        "roles": [(r["RoleName"], r["RoleId"]) for r in iam.list_roles()["Roles"]],
        "profiles": [
            (p["InstanceProfileName"], p["InstanceProfileId"])
            for p in iam.list_instance_profiles()["InstanceProfiles"]
        ],
        "associations": [a["AssociationId"] for a in associations],
        "lab_key": sandbox.lab_key().access_key_id,
    }


def _long_log(sandbox, calls: int) -> None:
    """``calls`` more recorded calls (CreateRole and DeleteRole in pairs): a busy learner's
    log, a few seconds of replay. The sandbox's role ``app`` is recorded before them."""
    aws_client("iam", sandbox=sandbox).create_role(
        RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    SandboxCall.objects.bulk_create(busy_log(sandbox, calls))
    Sandbox.objects.filter(pk=sandbox.pk).update(log_calls=calls + 1)


class Rebuild(threading.Thread):
    """The clock rebuilding lost sandboxes in the background."""

    def __init__(self):
        super().__init__(daemon=True)
        self.done = threading.Event()

    def run(self):
        try:
            sandbox_rebuild_lost(budget_seconds=60)
        finally:
            db_connection.close()
            self.done.set()


def _rebuilding(sandbox_server, busy, rebuild: Rebuild) -> None:
    """Wait until the server is replaying ``busy``'s log: its own calls get a 503."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not rebuild.done.is_set():
        status, text = query(sandbox_server, busy, "iam", "2010-05-08", "Action=ListRoles")
        if status == 503 and "ServiceUnavailable" in text:
            return
        time.sleep(0.01)
    pytest.fail("the rebuild of the busy sandbox was never seen under way")


def test_lost_sandboxes_come_back_most_recently_used_first(make_sandbox, monkeypatch):
    sandboxes = [make_sandbox() for _ in range(4)]
    for number, sandbox in enumerate(sandboxes):
        aws_client("iam", sandbox=sandbox).create_role(
            RoleName=f"role{number}", AssumeRolePolicyDocument=EC2_TRUST_POLICY
        )
    now = timezone.now()
    order = [sandboxes[2], sandboxes[0], sandboxes[3], sandboxes[1]]  # most recent first
    for age, sandbox in enumerate(order):
        Sandbox.objects.filter(pk=sandbox.pk).update(last_used_at=now - timedelta(minutes=age))
    _lose(*sandboxes)
    monkeypatch.setattr(services, "REBUILD_BATCH_SANDBOXES", 1)

    back = []
    for expected in order:
        assert sandbox_rebuild_lost(budget_seconds=0) == 1  # one batch, of one
        back.append(expected.pk)
        assert _ready() == set(back)

    for number, sandbox in enumerate(sandboxes):
        assert _role_names(sandbox) == [f"role{number}"]


def test_the_first_batch_is_the_most_recently_used(make_sandbox, monkeypatch):
    sandboxes = [make_sandbox() for _ in range(5)]
    now = timezone.now()
    for age, sandbox in enumerate(sandboxes):
        Sandbox.objects.filter(pk=sandbox.pk).update(last_used_at=now - timedelta(minutes=age))
    _lose(*sandboxes)
    monkeypatch.setattr(services, "REBUILD_BATCH_SANDBOXES", 2)

    assert sandbox_rebuild_lost(budget_seconds=0) == 2
    assert _ready() == {sandboxes[0].pk, sandboxes[1].pk}
    assert sandbox_rebuild_lost(budget_seconds=5) == 3
    assert _ready() == {sandbox.pk for sandbox in sandboxes}


def test_sandboxes_rebuilt_together_keep_their_instance_role_and_profile_ids(make_sandbox):
    sandboxes = [make_sandbox() for _ in range(3)]
    for number, sandbox in enumerate(sandboxes):
        launch_with_role(sandbox, name=f"web{number}")
    before = {sandbox.pk: _ids(sandbox) for sandbox in sandboxes}
    _lose(*sandboxes)

    assert sandbox_rebuild_lost(budget_seconds=30) == 3

    for sandbox in sandboxes:
        after = _ids(sandbox)
        assert after == before[sandbox.pk]
        assert len(after["instances"]) == len(after["associations"]) == 1


def test_a_sandbox_whose_batch_could_not_reach_the_server_backs_off_and_goes_alone(
    make_sandbox, settings, monkeypatch
):
    sandboxes = [make_sandbox() for _ in range(3)]
    _lose(*sandboxes)
    real_url = settings.LEARNLAB_SANDBOX_URL
    settings.LEARNLAB_SANDBOX_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens
    assert sandbox_rebuild_lost(budget_seconds=5) == 0
    assert all(s.rebuild_failures == 1 for s in Sandbox.objects.all())
    settings.LEARNLAB_SANDBOX_URL = real_url
    Sandbox.objects.update(rebuild_after=timezone.now())
    sizes, real_batch = [], services._rebuild_batch

    def batch_seen(**kwargs):
        batch = real_batch(**kwargs)
        sizes.append(len(batch))
        return batch

    monkeypatch.setattr(services, "_rebuild_batch", batch_seen)

    assert sandbox_rebuild_lost(budget_seconds=30) == 3

    assert sizes == [1, 1, 1, 0]  # after a failure, each alone
    assert all(s.rebuild_failures == 0 for s in Sandbox.objects.all())


def test_learners_without_a_sandbox_or_with_one_back_are_answered_during_a_rebuild(
    sandbox_server, make_sandbox
):
    busy, back, queued = make_sandbox(), make_sandbox(), make_sandbox()
    _long_log(busy, 1200)
    aws_client("iam", sandbox=queued).create_role(
        RoleName="queued", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    Sandbox.objects.filter(pk=busy.pk).update(last_used_at=timezone.now())  # the clock's first
    _lose(busy, queued)
    rebuild = Rebuild()
    rebuild.start()
    _rebuilding(sandbox_server, busy, rebuild)

    newcomer = make_sandbox()  # no sandbox before: provisioned now
    assert _role_names(newcomer) == []
    assert _role_names(back) == []  # one that is back (never lost here)
    assert _role_names(queued) == ["queued"]  # lost, behind the busy one: rebuilt on its call
    assert not rebuild.done.is_set(), "the rebuild ended before the others were answered"

    rebuild.join(120)
    busy.refresh_from_db()
    assert busy.status == Sandbox.Status.READY
    assert _role_names(busy) == ["app"]


def test_reconnecting_shows_only_for_the_learner_whose_own_sandbox_is_missing(sandbox_server):
    browsers = {name: Client() for name in ("busy", "back", "queued")}
    for browser in browsers.values():
        assert browser.get("/sandbox/panel").status_code == 200  # a learner and a sandbox
    by_browser = {
        name: Sandbox.objects.get(learner_id=browser.session["learner_id"])
        for name, browser in browsers.items()
    }
    busy, queued = by_browser["busy"], by_browser["queued"]
    _long_log(busy, 1200)
    Sandbox.objects.filter(pk=busy.pk).update(last_used_at=timezone.now())
    _lose(busy, queued)
    rebuild = Rebuild()
    rebuild.start()
    _rebuilding(sandbox_server, busy, rebuild)

    def panel(name: str) -> bytes:
        response = browsers[name].get("/sandbox/panel", headers={"HX-Request": "true"})
        assert response.status_code == 200
        return response.content

    assert RECONNECTING in panel("busy")  # its own sandbox is missing
    assert RECONNECTING not in panel("back")
    queued_page = panel("queued")  # lost but not being rebuilt: rebuilt for this page
    assert RECONNECTING not in queued_page and queued.account_id.encode() in queued_page
    assert not rebuild.done.is_set(), "the rebuild ended before the pages were seen"

    rebuild.join(120)
    busy_page = panel("busy")
    assert RECONNECTING not in busy_page and busy.account_id.encode() in busy_page


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"accounts": "123456789012"}, "a list of at most"),
        ({"accounts": [{"account_id": "12"}]}, "12-digit account_id"),
        ({"accounts": [{"account_id": "123456789013"}] * 51}, "a list of at most 50"),
        ({}, "accounts"),
    ],
)
def test_a_bad_batch_rebuild_request_is_a_400_that_says_why(sandbox_server, body, says):
    with pytest.raises(connection.SandboxServerError) as refused:
        connection.admin_call("PUT", "rebuilds", body)
    assert refused.value.status == 400 and says in refused.value.message


def test_one_account_that_cannot_be_rebuilt_fails_alone_in_its_batch(make_sandbox):
    good, bad = make_sandbox(), make_sandbox()
    aws_client("iam", sandbox=good).create_role(
        RoleName="kept", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    _lose(good, bad)
    requests = services._rebuild_requests([good, bad], now=timezone.now())
    accounts = []
    for sandbox in (bad, good):
        request = requests[sandbox.pk] | {"user_name": "learnlab"}
        request["replay"] = [call.as_json() for call in request["replay"]]
        accounts.append(request)
    accounts[0]["replay"] = [{"method": "POST"}]  # not a recorded call

    answer = connection.admin_call("PUT", "rebuilds", {"accounts": accounts})

    assert list(answer["rebuilt"]) == [good.account_id]
    assert list(answer["failed"]) == [bad.account_id] and answer["busy"] == []
    Sandbox.objects.filter(pk=good.pk).update(status=Sandbox.Status.READY)
    assert _role_names(good) == ["kept"]
