"""Rebuilding a sandbox by replaying the calls that built it: same resources, same ids."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from learnlab.gate.client import aws_client
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox import connection
from learnlab.sandbox.calls import RecordedCall
from learnlab.sandbox.models import Sandbox, SandboxCall, ServerBoot
from learnlab.sandbox.services import (
    role_credentials_mint,
    sandbox_for_learner,
    sandbox_reap,
    sandbox_rebuild,
    sandbox_rebuild_lost,
    sandbox_reset,
    sandbox_servers_watch,
)
from tests.helpers import launch_with_role

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _what_the_learner_sees(sandbox) -> dict:
    iam, ec2 = aws_client("iam", sandbox=sandbox), aws_client("ec2", sandbox=sandbox)
    s3 = aws_client("s3", sandbox=sandbox)
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    return {
        "roles": [(r["RoleName"], r["RoleId"]) for r in iam.list_roles()["Roles"]],
        "profiles": [
            (p["InstanceProfileName"], p["InstanceProfileId"], [r["RoleName"] for r in p["Roles"]])
            for p in iam.list_instance_profiles()["InstanceProfiles"]
        ],
        "instances": [
            (i["InstanceId"], i["State"]["Name"], i["PrivateIpAddress"], i["SubnetId"])
            for i in instances
        ],
        "associations": [
            (a["AssociationId"], a["InstanceId"], a["IamInstanceProfile"]["Arn"])
            for a in ec2.describe_iam_instance_profile_associations()[
                "IamInstanceProfileAssociations"
            ]
        ],
        "vpcs": [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]],
        "buckets": [b["Name"] for b in s3.list_buckets()["Buckets"]],
        "object": s3.get_object(Bucket=f"notes-{sandbox.account_id}", Key="a.txt")["Body"].read(),
    }


def _build(sandbox) -> None:
    instance_id = launch_with_role(sandbox)
    ec2 = aws_client("ec2", sandbox=sandbox)
    ec2.stop_instances(InstanceIds=[instance_id])
    ec2.start_instances(InstanceIds=[instance_id])
    ec2.run_instances(
        ImageId="ami-0453ec754f44f9a4a", InstanceType="t3.micro", MinCount=1, MaxCount=1
    )
    s3 = aws_client("s3", sandbox=sandbox)
    s3.create_bucket(Bucket=f"notes-{sandbox.account_id}")
    s3.put_object(Bucket=f"notes-{sandbox.account_id}", Key="a.txt", Body=b"kept")
    with pytest.raises(aws_client("iam", sandbox=sandbox).exceptions.EntityAlreadyExistsException):
        aws_client("iam", sandbox=sandbox).create_role(
            RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY
        )


def test_only_successful_changes_are_recorded(sandbox):
    _build(sandbox)
    _what_the_learner_sees(sandbox)  # reads: not recorded
    actions = list(SandboxCall.objects.filter(sandbox=sandbox).values_list("action", flat=True))
    assert actions == [
        "CreateRole",
        "CreateInstanceProfile",
        "AddRoleToInstanceProfile",
        "RunInstances",
        "StopInstances",
        "StartInstances",
        "RunInstances",
        "PUT",  # CreateBucket
        "PUT",  # PutObject
    ]  # the failed second CreateRole is not there


def test_a_lost_sandbox_comes_back_with_the_same_resources_and_ids(sandbox):
    _build(sandbox)
    before = _what_the_learner_sees(sandbox)
    connection.account_drop(sandbox.account_id)  # as a restart loses it

    sandbox_rebuild(sandbox=sandbox)

    after = _what_the_learner_sees(sandbox)
    assert after == before
    assert len(after["instances"]) == 2 and after["object"] == b"kept"


def test_instance_credentials_work_again_after_a_rebuild(sandbox):
    launch_with_role(sandbox)
    key = role_credentials_mint(
        sandbox=sandbox, role_name="app", session_name="i-0abc", duration_seconds=900
    )
    connection.account_drop(sandbox.account_id)
    sandbox_rebuild(sandbox=sandbox)
    identity = aws_client("sts", sandbox=sandbox, key=key).get_caller_identity()
    assert identity["Arn"].endswith(":assumed-role/app/i-0abc")


def test_a_second_rebuild_of_a_live_sandbox_replays_nothing(sandbox):
    launch_with_role(sandbox)
    sandbox_rebuild(sandbox=sandbox)
    reservations = aws_client("ec2", sandbox=sandbox).describe_instances()["Reservations"]
    assert len(reservations) == 1


def test_a_reaped_sandbox_comes_back_with_the_learners_work(sandbox):
    instance_id = launch_with_role(sandbox)
    Sandbox.objects.filter(pk=sandbox.pk).update(last_used_at=timezone.now() - timedelta(days=2))
    assert sandbox_reap(idle_for=timedelta(hours=24)) == 1
    back = sandbox_for_learner(learner=sandbox.learner)
    ids = [
        i["InstanceId"]
        for r in aws_client("ec2", sandbox=back).describe_instances()["Reservations"]
        for i in r["Instances"]
    ]
    assert ids == [instance_id]


def test_reset_forgets_the_calls_as_well(sandbox):
    launch_with_role(sandbox)
    sandbox_reset(sandbox=sandbox)
    assert not SandboxCall.objects.filter(sandbox=sandbox).exists()
    connection.account_drop(sandbox.account_id)
    sandbox_rebuild(sandbox=sandbox)
    assert aws_client("iam", sandbox=sandbox).list_roles()["Roles"] == []


def test_a_new_boot_id_marks_the_servers_sandboxes_lost_and_the_clock_rebuilds_them(
    make_sandbox,
):
    active, idle = make_sandbox(), make_sandbox()
    instance_id = launch_with_role(active)
    # A server never seen before may have lost anything: its sandboxes are checked, and being
    # there already, rebuilt without a replay.
    assert sandbox_servers_watch() == 2
    assert sandbox_rebuild_lost(budget_seconds=5) == 2
    assert sandbox_servers_watch() == 0  # nothing changed since
    assert len(aws_client("ec2", sandbox=active).describe_instances()["Reservations"]) == 1
    Sandbox.objects.filter(pk=idle.pk).update(last_used_at=timezone.now() - timedelta(days=2))
    for sandbox in (active, idle):  # as a restart loses them
        connection.account_drop(sandbox.account_id)
    ServerBoot.objects.update(boot_id="an-earlier-boot")

    assert sandbox_servers_watch() == 1
    statuses = dict(Sandbox.objects.values_list("pk", "status"))
    assert statuses == {active.pk: Sandbox.Status.LOST, idle.pk: Sandbox.Status.DROPPED}

    assert sandbox_rebuild_lost(budget_seconds=5) == 1
    active.refresh_from_db()
    assert active.status == Sandbox.Status.READY
    reservations = aws_client("ec2", sandbox=active).describe_instances()["Reservations"]
    assert reservations[0]["Instances"][0]["InstanceId"] == instance_id
    idle.refresh_from_db()
    assert idle.status == Sandbox.Status.DROPPED  # rebuilt when its learner comes back


def test_a_recorded_call_reaches_the_sandbox_server_as_the_gate_recorded_it():
    call = RecordedCall(
        method="POST",
        path="/?Action=CreateRole",
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=b"\x00\xffAction=CreateRole",
        scope="us-east-1/iam",
        seed=2**61 + 7,
        action="CreateRole",
    )
    assert RecordedCall.from_json(json.loads(json.dumps(call.as_json()))) == call
    with pytest.raises(TypeError):
        RecordedCall.from_json(call.as_json() | {"unexpected": 1})
