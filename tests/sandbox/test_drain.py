"""Draining a sandbox server (``manage.py sandbox_drain``) with two real servers: every sandbox
is rebuilt on the other from its recorded calls, the learner's CLI and SDK keep working with the
same keys and ids, a learner calling meanwhile gets no error, and a re-run after a crash
halfway finishes the job."""

import io
import json
import secrets
import threading

import boto3
import pytest
from botocore.config import Config
from django.core.management import CommandError, call_command

from learnlab.gate.client import aws_client
from learnlab.learners.models import Learner
from learnlab.sandbox import connection, drain
from learnlab.sandbox.models import Sandbox
from learnlab.sandbox.services import sandbox_for_learner
from learnlab.site.launch import free_port, sandbox_server_start
from tests.helpers import launch_with_role

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_servers(settings, sandbox_server):
    secret = secrets.token_hex(16)
    ports = [free_port(), free_port()]
    processes = [sandbox_server_start(port=port, secret=secret) for port in ports]
    settings.LEARNLAB_SANDBOX_SECRET = secret
    settings.LEARNLAB_SANDBOX_SERVERS = 1
    settings.LEARNLAB_SANDBOX_URLS = f"a=http://127.0.0.1:{ports[0]},b=http://127.0.0.1:{ports[1]}"
    yield
    for process in processes:
        process.terminate()
        process.wait(10)


def _on_b() -> Sandbox:
    drain.server_drain_start("a")
    try:
        return sandbox_for_learner(learner=Learner.objects.create())
    finally:
        drain.server_drain_cancel("a")


def _ids(sandbox) -> dict:
    """What the learner sees through the gate: who they are, their role's, profile's,
    instances' and IAM user's keys' ids."""
    iam, ec2 = aws_client("iam", sandbox=sandbox), aws_client("ec2", sandbox=sandbox)
    reservations = ec2.describe_instances()["Reservations"]
    return {
        "arn": aws_client("sts", sandbox=sandbox).get_caller_identity()["Arn"],
        "role": iam.get_role(RoleName="app")["Role"]["RoleId"],
        "profile": iam.get_instance_profile(InstanceProfileName="app")["InstanceProfile"][
            "InstanceProfileId"
        ],
        "instances": [i["InstanceId"] for r in reservations for i in r["Instances"]],
        "user keys": [
            k["AccessKeyId"] for k in iam.list_access_keys(UserName="dev")["AccessKeyMetadata"]
        ],
    }


def _cli(aws, sandbox) -> list[str]:
    """The same through the real CLI: the caller's ARN and the instance ids."""
    arn = aws(
        "sts",
        "get-caller-identity",
        "--output",
        "text",
        "--query",
        "Arn",
        sandbox=sandbox,
        check=True,
    )
    instances = aws(
        "ec2",
        "describe-instances",
        "--output",
        "text",
        "--query",
        "Reservations[].Instances[].InstanceId",
        sandbox=sandbox,
        check=True,
    )
    return arn.stdout.split() + instances.stdout.split()


def test_a_drain_moves_every_sandbox_with_the_same_keys_and_ids(two_servers, aws, gate_url):
    sandboxes = [_on_b() for _ in range(3)]
    for sandbox in sandboxes:
        launch_with_role(sandbox)
        iam = aws_client("iam", sandbox=sandbox)
        iam.create_user(UserName="dev")
    # The learner's own IAM user's key: made through the gate, so the gate knows it.
    first = sandboxes[0]
    made = aws(
        "iam",
        "create-access-key",
        "--user-name",
        "dev",
        "--output",
        "json",
        sandbox=first,
        check=True,
    )
    assert "AccessKeyId" in made.stdout
    before = {sandbox.pk: _ids(sandbox) for sandbox in sandboxes}
    cli_before = _cli(aws, first)
    keys = {sandbox.pk: sandbox.lab_key().access_key_id for sandbox in sandboxes}
    assert connection.health(server="b")["accounts"] >= 3

    # A learner who keeps calling meanwhile, with an SDK's ordinary retries.
    stop, errors, calls = threading.Event(), [], [0]
    key = first.lab_key()
    sdk = boto3.client(
        "iam",
        endpoint_url=gate_url,
        region_name="us-east-1",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=Config(retries={"mode": "standard", "max_attempts": 10}),
    )

    def keep_calling():
        while not stop.is_set():
            try:
                assert sdk.get_role(RoleName="app")["Role"]["RoleId"] == before[first.pk]["role"]
                calls[0] += 1
            except Exception as error:  # every failure is what the test counts
                errors.append(repr(error))

    learner = threading.Thread(target=keep_calling)
    learner.start()
    out = io.StringIO()
    try:
        call_command("sandbox_drain", "b", "--settle", "0.5", "--batch", "2", stdout=out)
    finally:
        stop.set()
        learner.join(30)

    printed = out.getvalue()
    assert "draining b: 3 sandboxes to move" in printed
    assert printed.count(" -> a: ready") == 3 and "drained b: 3 rebuilt elsewhere" in printed
    assert errors == [] and calls[0] > 0
    for sandbox in sandboxes:
        sandbox.refresh_from_db()
        assert (sandbox.server, sandbox.status, sandbox.moved_from) == ("a", "ready", "")
        assert sandbox.lab_key().access_key_id == keys[sandbox.pk]
        assert _ids(sandbox) == before[sandbox.pk]
    assert _cli(aws, first) == cli_before
    assert connection.health(server="b")["accounts"] <= 1  # moto's default account at most
    # The learner's own IAM user's key works after the move too.
    made_key = json.loads(made.stdout)["AccessKey"]
    assert (
        aws(
            "sts",
            "get-caller-identity",
            "--output",
            "text",
            "--query",
            "Arn",
            key_id=made_key["AccessKeyId"],
            secret=made_key["SecretAccessKey"],
            check=True,
        )
        .stdout.strip()
        .endswith(":user/dev")
    )
    # New sandboxes go to a only; a second drain has nothing to do.
    assert sandbox_for_learner(learner=Learner.objects.create()).server == "a"
    again = io.StringIO()
    call_command("sandbox_drain", "b", stdout=again)
    assert "0 sandboxes to move" in again.getvalue()


def test_a_drain_that_crashed_halfway_is_finished_by_running_it_again(two_servers, aws):
    sandbox = _on_b()
    instance_id = launch_with_role(sandbox)
    drain.server_drain_start("b")
    result = drain.DrainResult(server="b")
    assert drain._point_elsewhere(sandbox, "b", settle=0.0, result=result)  # then the crash
    sandbox.refresh_from_db()
    assert (sandbox.server, sandbox.status, sandbox.moved_from) == ("a", "lost", "b")

    out = io.StringIO()
    call_command("sandbox_drain", "b", stdout=out)
    assert "freed 1 copies an earlier drain left on b" in out.getvalue()
    sandbox.refresh_from_db()
    assert sandbox.moved_from == ""
    # The learner's next call rebuilds it on a (the clock would too), with the same ids.
    listed = aws(
        "ec2",
        "describe-instances",
        "--output",
        "text",
        "--query",
        "Reservations[].Instances[].InstanceId",
        sandbox=sandbox,
        check=True,
    )
    assert listed.stdout.split() == [instance_id]
    sandbox.refresh_from_db()
    assert (sandbox.server, sandbox.status) == ("a", "ready")


def test_the_command_refuses_what_it_cannot_do_in_words(two_servers):
    with pytest.raises(CommandError, match=r"No sandbox server 'c'\. The listed ones: a"):
        call_command("sandbox_drain", "c", stdout=io.StringIO())
    drain.server_drain_start("a")
    with pytest.raises(CommandError, match="nowhere to move"):
        call_command("sandbox_drain", "b", stdout=io.StringIO())
    call_command("sandbox_drain", "a", "--cancel", stdout=io.StringIO())
    listing = io.StringIO()
    call_command("sandbox_drain", stdout=listing)
    assert "a  http://127.0.0.1:" in listing.getvalue() and "draining" in listing.getvalue()
