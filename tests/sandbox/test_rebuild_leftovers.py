"""Two ways a rebuild used to leave a sandbox wrong for good (issue 21's leftovers):

- a sandbox that lost its lab key could never be rebuilt ("Reconnecting" for ever): it is
  now bootstrapped again, its lab user given a new key, and its log replayed;
- a rewind whose ``account_drop`` the server refused (alive, the account being rebuilt) had
  cut the log already, and the next rebuild found the account there and did nothing: the
  sandbox kept what the cut log no longer held. Now a refused drop changes nothing, and a
  rewind once the rebuild is over cuts the log and rebuilds the account from it."""

import pytest

from learnlab.gate.client import aws_client
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox import connection
from learnlab.sandbox.models import AccessKey, Sandbox, SandboxCall
from learnlab.sandbox.rewind import sandbox_rewind
from learnlab.sandbox.services import sandbox_for_learner, sandbox_rebuild_lost
from tests.sandbox.test_rebuild_recovery import (
    Rebuild,
    _long_log,
    _lose,
    _rebuilding,
    _role_names,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _with_role_and_no_lab_key(make_sandbox) -> tuple[Sandbox, str]:
    sandbox = make_sandbox()
    aws_client("iam", sandbox=sandbox).create_role(
        RoleName="kept", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    old_key = sandbox.lab_key().access_key_id
    sandbox.access_keys.filter(kind=AccessKey.Kind.LAB_USER).delete()
    return sandbox, old_key


def test_a_lost_sandbox_without_a_lab_key_comes_back_with_a_new_one(make_sandbox):
    sandbox, old_key = _with_role_and_no_lab_key(make_sandbox)
    _lose(sandbox)

    assert sandbox_rebuild_lost(budget_seconds=5) == 1

    sandbox.refresh_from_db()
    assert sandbox.status == Sandbox.Status.READY and sandbox.rebuild_failures == 0
    key = sandbox.lab_key()
    assert key.access_key_id != old_key
    assert key.principal_arn == sandbox.lab_user_arn
    assert _role_names(sandbox) == ["kept"]  # the new key works, and the log was replayed


def test_a_dropped_sandbox_without_a_lab_key_is_rebuilt_on_use_with_a_new_one(make_sandbox):
    sandbox, old_key = _with_role_and_no_lab_key(make_sandbox)
    connection.account_drop(sandbox.account_id)
    Sandbox.objects.filter(pk=sandbox.pk).update(status=Sandbox.Status.DROPPED)

    again = sandbox_for_learner(learner=sandbox.learner)

    again.refresh_from_db()
    assert again.status == Sandbox.Status.READY
    assert again.lab_key().access_key_id != old_key
    assert _role_names(again) == ["kept"]
    assert AccessKey.objects.filter(sandbox=again, kind=AccessKey.Kind.LAB_USER).count() == 1


def test_a_rewind_the_server_refuses_changes_nothing_and_a_retry_rewinds(
    sandbox_server, make_sandbox
):
    sandbox = make_sandbox()
    _long_log(sandbox, 1200)  # role "app", then 1,200 calls: seconds of replay
    logged = SandboxCall.objects.filter(sandbox=sandbox).count()
    _lose(sandbox)
    rebuild = Rebuild()
    rebuild.start()
    _rebuilding(sandbox_server, sandbox, rebuild)  # the server is replaying its log

    with pytest.raises(connection.SandboxServerError) as refused:
        sandbox_rewind(sandbox=sandbox, to=None)  # back to an empty sandbox
    assert refused.value.status == 503

    rebuild.join(120)
    assert rebuild.done.is_set()
    sandbox.refresh_from_db()
    # The log and the sandbox agree: nothing was cut, and the sandbox holds what it replays.
    assert SandboxCall.objects.filter(sandbox=sandbox).count() == logged
    assert sandbox.status == Sandbox.Status.READY
    assert _role_names(sandbox) == ["app"]

    assert sandbox_rewind(sandbox=sandbox, to=None) == logged  # now it goes through
    sandbox.refresh_from_db()
    assert SandboxCall.objects.filter(sandbox=sandbox).count() == 0
    assert sandbox.status == Sandbox.Status.READY
    assert _role_names(sandbox) == []
