"""AWS's ids, one id per thing (learnlab/sandbox/aws_ids.py), through the real clients: boto3
through the gate over HTTP and the real AWS CLI. moto 5.2.5 gave users, groups and instance
profiles 20 random lower-case characters, policies ``A`` and 20, and EC2 showed an instance's
association id (``iip-assoc-...``) as its instance profile's id."""

import json
import re
import secrets
import signal

import pytest
from django.utils import timezone

from learnlab.gate.client import aws_client
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.models import LAB_USER_NAME, Sandbox
from learnlab.sandbox.services import (
    role_credentials_mint,
    sandbox_rebuild_lost,
    sandbox_servers_watch,
)
from learnlab.site.launch import free_port, sandbox_server_start
from tests.helpers import gate_client, json_out

pytestmark = pytest.mark.django_db(transaction=True)

AMI = "ami-0453ec754f44f9a4a"
# IAM User Guide, "IAM identifiers" > "Understanding unique ID prefixes": four letters naming
# the kind, then upper-case letters and digits; 21 characters in all (the AWS CLI's examples:
# ``AIPAJMBYC7DLSPEXAMPLE``, ``AIDAIOSFODNN7EXAMPLE``).
SHAPES = {
    kind: re.compile(rf"^{prefix}[A-Z0-9]{{17}}$")
    for kind, prefix in {
        "user": "AIDA",
        "group": "AGPA",
        "role": "AROA",
        "instance_profile": "AIPA",
        "policy": "ANPA",
    }.items()
}
ASSOCIATION = re.compile(r"^iip-assoc-[0-9a-f]{17}$")
S3_READ = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
)
# IAM and STS send whole seconds, EC2 and S3 milliseconds (the AWS CLI's own examples, below).
WHOLE_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
MILLISECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _ids_of(response_part: dict, key: str, kind: str) -> str:
    value = response_part[key]
    assert SHAPES[kind].match(value), f"{key} {value!r} is not shaped as AWS shapes a {kind} id"
    return value


def _launch(ec2, profile: str) -> dict:
    return ec2.run_instances(
        ImageId=AMI,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        IamInstanceProfile={"Name": profile},
    )["Instances"][0]


def test_every_iam_response_shows_each_kind_of_id_as_aws_shapes_it(gate_url, sandbox):
    """IAM User Guide, reference_identifiers ("Unique identifiers", "Understanding unique ID
    prefixes"): AIDA users, AGPA groups, AROA roles, AIPA instance profiles, ANPA managed
    policies, each 21 characters, in Create, Get and List alike."""
    iam = gate_client(gate_url, sandbox, "iam")

    user = _ids_of(iam.create_user(UserName="dev")["User"], "UserId", "user")
    assert _ids_of(iam.get_user(UserName="dev")["User"], "UserId", "user") == user
    listed = {u["UserName"]: u["UserId"] for u in iam.list_users()["Users"]}
    assert listed["dev"] == user
    assert SHAPES["user"].match(listed[LAB_USER_NAME])  # the lab user too

    group = _ids_of(iam.create_group(GroupName="devs")["Group"], "GroupId", "group")
    assert _ids_of(iam.get_group(GroupName="devs")["Group"], "GroupId", "group") == group
    assert [g["GroupId"] for g in iam.list_groups()["Groups"]] == [group]

    role = _ids_of(
        iam.create_role(RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY)["Role"],
        "RoleId",
        "role",
    )
    assert _ids_of(iam.get_role(RoleName="app")["Role"], "RoleId", "role") == role
    assert [r["RoleId"] for r in iam.list_roles()["Roles"]] == [role]

    created = iam.create_instance_profile(InstanceProfileName="app")["InstanceProfile"]
    profile = _ids_of(created, "InstanceProfileId", "instance_profile")
    iam.add_role_to_instance_profile(InstanceProfileName="app", RoleName="app")
    got = iam.get_instance_profile(InstanceProfileName="app")["InstanceProfile"]
    assert _ids_of(got, "InstanceProfileId", "instance_profile") == profile
    assert [r["RoleId"] for r in got["Roles"]] == [role]
    listed = iam.list_instance_profiles()["InstanceProfiles"]
    assert [p["InstanceProfileId"] for p in listed] == [profile]
    for_role = iam.list_instance_profiles_for_role(RoleName="app")["InstanceProfiles"]
    assert [p["InstanceProfileId"] for p in for_role] == [profile]

    arn = iam.create_policy(PolicyName="read", PolicyDocument=S3_READ)["Policy"]["Arn"]
    policy = _ids_of(iam.get_policy(PolicyArn=arn)["Policy"], "PolicyId", "policy")
    local = iam.list_policies(Scope="Local")["Policies"]
    assert [p["PolicyId"] for p in local] == [policy]

    every_id = [user, group, role, profile, policy]
    assert len(set(every_id)) == len(every_id)


def test_aws_managed_policies_have_one_id_in_every_account(gate_url, make_sandbox):
    """IAM User Guide, reference_identifiers: an AWS managed policy is one policy
    (arn:aws:iam::aws:policy/...) with one ANPA id, whichever account lists it."""
    first, second = make_sandbox(), make_sandbox()
    ids = []
    for sandbox in (first, second):
        iam = gate_client(gate_url, sandbox, "iam")
        policies = iam.list_policies(Scope="AWS")["Policies"]
        assert policies and all(SHAPES["policy"].match(p["PolicyId"]) for p in policies)
        ids.append({p["PolicyName"]: p["PolicyId"] for p in policies})
    assert ids[0] == ids[1]
    assert len(set(ids[0].values())) == len(ids[0])


def test_get_caller_identity_names_the_lab_user_by_its_aida_id(aws, sandbox):
    """STS API Reference, GetCallerIdentity: for an IAM user, UserId is the user's unique id
    (IAM User Guide, reference_identifiers, "Getting the unique identifier")."""
    identity = json_out(aws("sts", "get-caller-identity", sandbox=sandbox))
    user = json_out(aws("iam", "get-user", sandbox=sandbox))["User"]
    assert SHAPES["user"].match(identity["UserId"])
    assert identity["UserId"] == user["UserId"]
    assert identity["Arn"] == user["Arn"]


def test_an_instances_credentials_are_the_roles_aroa_id_and_the_session(gate_url, sandbox):
    """STS API Reference, GetCallerIdentity: for an assumed role, UserId is
    ``role-id:role-session-name``; EC2 names the session after the instance
    (IAM User Guide, id_roles_use_switch-role-ec2)."""
    iam, ec2 = gate_client(gate_url, sandbox, "iam"), gate_client(gate_url, sandbox, "ec2")
    role = iam.create_role(RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY)["Role"]
    iam.create_instance_profile(InstanceProfileName="app")
    iam.add_role_to_instance_profile(InstanceProfileName="app", RoleName="app")
    instance_id = _launch(ec2, "app")["InstanceId"]
    key = role_credentials_mint(
        sandbox=sandbox, role_name="app", session_name=instance_id, duration_seconds=900
    )

    identity = aws_client("sts", sandbox=sandbox, key=key).get_caller_identity()

    assert identity["UserId"] == f"{role['RoleId']}:{instance_id}"
    assert SHAPES["role"].match(identity["UserId"].split(":")[0])


def _iam_profile_id(aws, sandbox, name: str) -> str:
    out = aws(
        "iam", "get-instance-profile", "--instance-profile-name", name,
        "--query", "InstanceProfile.InstanceProfileId", "--output", "text",
        sandbox=sandbox,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def _ec2_profile_ids(aws, sandbox, instance_id: str) -> tuple[str, str, str]:
    """(describe-instances' IamInstanceProfile.Id, the association's IamInstanceProfile.Id,
    its AssociationId), as the AWS CLI prints them."""
    instance = json_out(
        aws("ec2", "describe-instances", "--instance-ids", instance_id, sandbox=sandbox)
    )["Reservations"][0]["Instances"][0]
    associations = json_out(
        aws(
            "ec2", "describe-iam-instance-profile-associations",
            "--filters", f"Name=instance-id,Values={instance_id}",
            sandbox=sandbox,
        )
    )["IamInstanceProfileAssociations"]  # fmt: skip
    assert len(associations) == 1
    association = associations[0]
    return (
        instance["IamInstanceProfile"]["Id"],
        association["IamInstanceProfile"]["Id"],
        association["AssociationId"],
    )


def test_iam_and_ec2_show_one_instance_profile_id_with_the_aws_cli(aws, sandbox):
    """IAM User Guide, troubleshoot_iam-ec2 ("What do the errors from the info document in the
    IAM subtree mean?"): compare the InstanceProfileId IAM shows for the profile with the one
    EC2 shows for the instance. EC2 API Reference, IamInstanceProfile: ``Id`` is the instance
    profile's id; IamInstanceProfileAssociation: ``AssociationId`` is the association's. The AWS
    CLI's own replace-iam-instance-profile-association example returns a new AssociationId."""
    for name in ("app", "admin"):
        aws("iam", "create-role", "--role-name", name, "--assume-role-policy-document",
            EC2_TRUST_POLICY, sandbox=sandbox, check=True)  # fmt: skip
        aws("iam", "create-instance-profile", "--instance-profile-name", name,
            sandbox=sandbox, check=True)  # fmt: skip
        aws("iam", "add-role-to-instance-profile", "--instance-profile-name", name,
            "--role-name", name, sandbox=sandbox, check=True)  # fmt: skip
    app, admin = _iam_profile_id(aws, sandbox, "app"), _iam_profile_id(aws, sandbox, "admin")
    assert SHAPES["instance_profile"].match(app) and SHAPES["instance_profile"].match(admin)

    launched = json_out(
        aws(
            "ec2", "run-instances", "--image-id", AMI, "--instance-type", "t3.micro",
            "--iam-instance-profile", "Name=app",
            sandbox=sandbox,
        )
    )["Instances"][0]  # fmt: skip
    instance_id = launched["InstanceId"]
    assert launched["IamInstanceProfile"]["Id"] == app

    in_instance, in_association, association_id = _ec2_profile_ids(aws, sandbox, instance_id)
    assert in_instance == in_association == app
    assert ASSOCIATION.match(association_id)

    replaced = json_out(
        aws(
            "ec2", "replace-iam-instance-profile-association",
            "--association-id", association_id, "--iam-instance-profile", "Name=admin",
            sandbox=sandbox,
        )
    )["IamInstanceProfileAssociation"]  # fmt: skip
    assert replaced["IamInstanceProfile"]["Id"] == admin
    assert ASSOCIATION.match(replaced["AssociationId"])
    assert replaced["AssociationId"] != association_id

    in_instance, in_association, now_id = _ec2_profile_ids(aws, sandbox, instance_id)
    assert in_instance == in_association == _iam_profile_id(aws, sandbox, "admin") == admin
    assert now_id == replaced["AssociationId"]


def test_iam_and_ec2_show_one_instance_profile_id_with_boto3(gate_url, sandbox):
    """IAM User Guide, troubleshoot_iam-ec2: the InstanceProfileId from IAM equals the
    IamInstanceProfile.Id EC2 shows (RunInstances, DescribeInstances, AssociateIamInstanceProfile,
    DescribeIamInstanceProfileAssociations); ``iip-assoc-`` is only ever an AssociationId."""
    iam, ec2 = gate_client(gate_url, sandbox, "iam"), gate_client(gate_url, sandbox, "ec2")
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.create_instance_profile(InstanceProfileName="app")
    iam.add_role_to_instance_profile(InstanceProfileName="app", RoleName="app")
    profile = iam.get_instance_profile(InstanceProfileName="app")["InstanceProfile"]
    instance_id = ec2.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1)[
        "Instances"
    ][0]["InstanceId"]

    associated = ec2.associate_iam_instance_profile(
        InstanceId=instance_id, IamInstanceProfile={"Arn": profile["Arn"]}
    )["IamInstanceProfileAssociation"]

    assert associated["IamInstanceProfile"] == {
        "Arn": profile["Arn"],
        "Id": profile["InstanceProfileId"],
    }
    assert ASSOCIATION.match(associated["AssociationId"])
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert instance["IamInstanceProfile"]["Id"] == profile["InstanceProfileId"]
    (listed,) = ec2.describe_iam_instance_profile_associations(
        AssociationIds=[associated["AssociationId"]]
    )["IamInstanceProfileAssociations"]
    assert listed["IamInstanceProfile"]["Id"] == profile["InstanceProfileId"]
    assert listed["InstanceId"] == instance_id


def test_timestamps_are_sent_as_aws_sends_them(aws, sandbox):
    """AWS CLI v1 prints each timestamp as the service sent it, and the AWS CLI's own examples
    show what AWS sends: IAM whole seconds (iam create-user, example 2:
    "CreateDate": "2023-05-24T18:20:17+00:00", no fraction), STS whole seconds
    (sts assume-role-with-saml: "Expiration": "2019-11-01T20:26:47Z"), EC2 milliseconds
    (ec2 run-instances: "LaunchTime": "2018-05-10T08:05:20.000Z"), S3 milliseconds
    (s3api list-objects-v2: "LastModified": "2019-11-05T23:11:50.000Z"). An association has
    its Timestamp (EC2 API Reference, IamInstanceProfileAssociation). moto sent IAM and STS
    times with microseconds and no association Timestamp."""
    role = json_out(
        aws("iam", "create-role", "--role-name", "app",
            "--assume-role-policy-document", EC2_TRUST_POLICY, sandbox=sandbox)
    )["Role"]  # fmt: skip
    profile = json_out(
        aws("iam", "create-instance-profile", "--instance-profile-name", "app", sandbox=sandbox)
    )["InstanceProfile"]
    aws("iam", "add-role-to-instance-profile", "--instance-profile-name", "app",
        "--role-name", "app", sandbox=sandbox, check=True)  # fmt: skip
    user = json_out(aws("iam", "get-user", sandbox=sandbox))["User"]
    listed = json_out(aws("iam", "list-roles", sandbox=sandbox))["Roles"][0]
    for stamp in (role["CreateDate"], profile["CreateDate"], user["CreateDate"],
                  listed["CreateDate"]):  # fmt: skip
        assert WHOLE_SECONDS.match(stamp), stamp

    session = json_out(aws("sts", "get-session-token", sandbox=sandbox))["Credentials"]
    assert WHOLE_SECONDS.match(session["Expiration"]), session["Expiration"]

    instance = json_out(
        aws("ec2", "run-instances", "--image-id", AMI, "--instance-type", "t3.micro",
            "--iam-instance-profile", "Name=app", sandbox=sandbox)
    )["Instances"][0]  # fmt: skip
    assert MILLISECONDS.match(instance["LaunchTime"]), instance["LaunchTime"]
    (association,) = json_out(
        aws("ec2", "describe-iam-instance-profile-associations", sandbox=sandbox)
    )["IamInstanceProfileAssociations"]
    assert MILLISECONDS.match(association["Timestamp"]), association

    bucket = f"notes-{sandbox.account_id}"
    aws("s3api", "create-bucket", "--bucket", bucket, sandbox=sandbox, check=True)
    aws("s3api", "put-object", "--bucket", bucket, "--key", "a.txt", sandbox=sandbox, check=True)
    (stored,) = json_out(aws("s3api", "list-objects-v2", "--bucket", bucket, sandbox=sandbox))[
        "Contents"
    ]
    assert MILLISECONDS.match(stored["LastModified"]), stored


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


def _every_id(sandbox) -> dict:
    iam, ec2 = aws_client("iam", sandbox=sandbox), aws_client("ec2", sandbox=sandbox)
    sts = aws_client("sts", sandbox=sandbox)
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    return {
        "caller": sts.get_caller_identity()["UserId"],
        "users": [(u["UserName"], u["UserId"]) for u in iam.list_users()["Users"]],
        "groups": [g["GroupId"] for g in iam.list_groups()["Groups"]],
        "roles": [r["RoleId"] for r in iam.list_roles()["Roles"]],
        "profiles": [
            p["InstanceProfileId"] for p in iam.list_instance_profiles()["InstanceProfiles"]
        ],
        "policies": [p["PolicyId"] for p in iam.list_policies()["Policies"]],
        "instances": [(i["InstanceId"], i["IamInstanceProfile"]["Id"]) for i in instances],
        "associations": [
            (a["AssociationId"], a["IamInstanceProfile"]["Id"])
            for a in ec2.describe_iam_instance_profile_associations()[
                "IamInstanceProfileAssociations"
            ]
        ],
    }


def test_a_sandbox_rebuilt_after_a_kill_9_shows_the_same_aws_shaped_ids(own_server, sandbox):
    """The ids AWS shows never change for the same thing (IAM User Guide, reference_identifiers:
    a unique id names one user, role, profile or policy for as long as it exists): after the
    sandbox server is killed and the sandbox rebuilt from its recorded calls, each id is the
    one the learner saw, AIDA, AGPA, AROA, AIPA and ANPA alike, the association's too."""
    iam, ec2 = aws_client("iam", sandbox=sandbox), aws_client("ec2", sandbox=sandbox)
    iam.create_user(UserName="dev")
    iam.create_group(GroupName="devs")
    iam.create_policy(PolicyName="read", PolicyDocument=S3_READ)
    for name in ("app", "admin"):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=EC2_TRUST_POLICY)
        iam.create_instance_profile(InstanceProfileName=name)
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    _launch(ec2, "app")
    (association,) = ec2.describe_iam_instance_profile_associations()[
        "IamInstanceProfileAssociations"
    ]
    ec2.replace_iam_instance_profile_association(
        AssociationId=association["AssociationId"], IamInstanceProfile={"Name": "admin"}
    )
    before = _every_id(sandbox)
    assert SHAPES["user"].match(before["caller"])
    assert before["instances"][0][1] == before["profiles"][1]  # admin's, after the replace
    Sandbox.objects.filter(pk=sandbox.pk).update(last_used_at=timezone.now())  # not idle
    sandbox_servers_watch()  # this server's first boot id: remembered
    sandbox_rebuild_lost(budget_seconds=5)  # (here already: nothing replayed)

    own_server["process"].send_signal(signal.SIGKILL)
    own_server["process"].wait()
    own_server["process"] = sandbox_server_start(
        port=own_server["port"], secret=own_server["secret"]
    )
    assert sandbox_servers_watch() == 1
    sandbox_rebuild_lost(budget_seconds=60)

    sandbox.refresh_from_db()
    assert sandbox.status == Sandbox.Status.READY
    assert _every_id(sandbox) == before
