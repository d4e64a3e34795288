"""iam:PassRole (EP18): attaching an instance profile passes its role to EC2, so RunInstances,
AssociateIamInstanceProfile and ReplaceIamInstanceProfileAssociation need iam:PassRole on
the profile's role, as the real AWS CLI and boto3 see it through the gate.

IAM User Guide, "Grant a user permissions to pass a role to an AWS service" and "Use an IAM
role to grant permissions to applications running on Amazon EC2 instances" (the user needs
iam:PassRole on the role to launch an instance with it or to attach it); the denial's words
follow real EC2 output (aws/karpenter-provider-aws#7370) and the IAM User Guide's access
denied message examples.
"""

import json

import pytest
from botocore.exceptions import ClientError

from learnlab.gate.client import aws_client
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from tests.helpers import json_out, launch_with_role
from tests.sandbox.test_denials import IMAGE_ID, as_session, role_session, session_client

pytestmark = pytest.mark.django_db(transaction=True)

LAUNCH = ("--image-id", IMAGE_ID, "--instance-type", "t3.micro", "--count", "1")


@pytest.fixture
def profiles(sandbox):
    """Profiles ``app`` and ``other``, each holding a same-named role EC2 may assume, and an
    instance the lab user launched with ``other`` attached."""
    instance_id = launch_with_role(sandbox, "other")
    profile_with_role(sandbox, "app")
    ec2 = aws_client("ec2", sandbox=sandbox)
    [association] = ec2.describe_iam_instance_profile_associations()[
        "IamInstanceProfileAssociations"
    ]
    return {"instance_id": instance_id, "association_id": association["AssociationId"]}


def profile_with_role(sandbox, name: str) -> None:
    iam = aws_client("iam", sandbox=sandbox)
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)


EC2_ALL = {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}


def pass_role_on(sandbox, role: str) -> dict:
    return {
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": f"arn:aws:iam::{sandbox.account_id}:role/{role}",
    }


def _assert_pass_role_refused(message: str, sandbox, session: str = "launcher") -> None:
    account = sandbox.account_id
    assert message.startswith(
        "You are not authorized to perform this operation. User: "
        f"arn:aws:sts::{account}:assumed-role/{session}/i-0denied is not authorized to perform: "
        f"iam:PassRole on resource: arn:aws:iam::{account}:role/app because no identity-based "
        "policy allows the iam:PassRole action. Encoded authorization failure message: "
    ), message


def _instances(sandbox) -> int:
    reservations = aws_client("ec2", sandbox=sandbox).describe_instances()["Reservations"]
    return sum(len(r["Instances"]) for r in reservations)


def test_run_instances_with_a_profile_needs_pass_role(aws, sandbox, profiles):
    """Without iam:PassRole: UnauthorizedOperation naming iam:PassRole on the role's ARN,
    and no instance is launched."""
    key = role_session(sandbox, "launcher", EC2_ALL)
    before = _instances(sandbox)
    result = as_session(
        aws, key, "ec2", "run-instances", *LAUNCH, "--iam-instance-profile", "Name=app"
    )
    assert (
        "An error occurred (UnauthorizedOperation) when calling the RunInstances" in result.stderr
    )
    _assert_pass_role_refused(result.stderr.partition("operation: ")[2].strip(), sandbox)
    assert _instances(sandbox) == before
    # The same caller may launch without a profile: only passing the role is refused.
    assert json_out(as_session(aws, key, "ec2", "run-instances", *LAUNCH))["Instances"]


def test_associating_a_profile_needs_pass_role(gate_url, sandbox, profiles):
    key = role_session(sandbox, "launcher", EC2_ALL)
    ec2 = session_client(gate_url, key, "ec2")
    instance_id = ec2.run_instances(
        ImageId=IMAGE_ID, InstanceType="t3.micro", MinCount=1, MaxCount=1
    )["Instances"][0]["InstanceId"]
    with pytest.raises(ClientError) as denied:
        ec2.associate_iam_instance_profile(
            IamInstanceProfile={"Name": "app"}, InstanceId=instance_id
        )
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert denied.value.response["Error"]["Code"] == "UnauthorizedOperation"
    _assert_pass_role_refused(denied.value.response["Error"]["Message"], sandbox)
    associations = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}]
    )["IamInstanceProfileAssociations"]
    assert associations == []


def test_replacing_a_profile_needs_pass_role_on_the_new_role(gate_url, sandbox, profiles):
    key = role_session(sandbox, "launcher", EC2_ALL)
    ec2 = session_client(gate_url, key, "ec2")
    arn = f"arn:aws:iam::{sandbox.account_id}:instance-profile/app"
    with pytest.raises(ClientError) as denied:
        ec2.replace_iam_instance_profile_association(
            IamInstanceProfile={"Arn": arn}, AssociationId=profiles["association_id"]
        )
    assert denied.value.response["Error"]["Code"] == "UnauthorizedOperation"
    _assert_pass_role_refused(denied.value.response["Error"]["Message"], sandbox)
    [association] = ec2.describe_iam_instance_profile_associations()[
        "IamInstanceProfileAssociations"
    ]
    assert association["IamInstanceProfile"]["Arn"].endswith("instance-profile/other")


def test_pass_role_on_another_role_does_not_count(aws, sandbox, profiles):
    """PassRole is evaluated on the role's ARN: a grant for ``other`` does not pass ``app``."""
    key = role_session(sandbox, "launcher", EC2_ALL, pass_role_on(sandbox, "other"))
    result = as_session(
        aws, key, "ec2", "run-instances", *LAUNCH, "--iam-instance-profile", "Name=app"
    )
    _assert_pass_role_refused(result.stderr.partition("operation: ")[2].strip(), sandbox)


def test_an_explicit_deny_of_pass_role_wins(aws, sandbox, profiles):
    key = role_session(
        sandbox,
        "launcher",
        EC2_ALL,
        {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "iam:Pass*", "Resource": "arn:aws:iam::*:role/a?p"},
    )
    result = as_session(
        aws, key, "ec2", "run-instances", *LAUNCH, "--iam-instance-profile", "Name=app"
    )
    assert (
        f"iam:PassRole on resource: arn:aws:iam::{sandbox.account_id}:role/app with an explicit "
        "deny in an identity-based policy. Encoded authorization failure message: "
    ) in result.stderr


def test_pass_role_scoped_to_the_role_allows_all_three(aws, gate_url, sandbox, profiles):
    """With iam:PassRole on exactly arn:aws:iam::<acct>:role/app, each operation works."""
    key = role_session(sandbox, "launcher", EC2_ALL, pass_role_on(sandbox, "app"))
    launched = json_out(
        as_session(aws, key, "ec2", "run-instances", *LAUNCH, "--iam-instance-profile", "Name=app")
    )["Instances"][0]
    assert launched["IamInstanceProfile"]["Arn"].endswith("instance-profile/app")
    ec2 = session_client(gate_url, key, "ec2")
    bare = ec2.run_instances(ImageId=IMAGE_ID, InstanceType="t3.micro", MinCount=1, MaxCount=1)
    bare_id = bare["Instances"][0]["InstanceId"]
    associated = ec2.associate_iam_instance_profile(
        IamInstanceProfile={"Name": "app"}, InstanceId=bare_id
    )["IamInstanceProfileAssociation"]
    assert associated["InstanceId"] == bare_id
    replaced = ec2.replace_iam_instance_profile_association(
        IamInstanceProfile={"Name": "app"}, AssociationId=profiles["association_id"]
    )["IamInstanceProfileAssociation"]
    assert replaced["IamInstanceProfile"]["Arn"].endswith("instance-profile/app")


def test_the_pass_role_denial_decodes_to_the_role_and_the_service(aws, sandbox, profiles):
    """STS DecodeAuthorizationMessage on a PassRole denial: action iam:PassRole, the role's
    ARN, and the iam:PassedToService condition key (IAM User Guide, IAM condition keys)."""
    key = role_session(sandbox, "launcher", EC2_ALL)
    result = as_session(
        aws, key, "ec2", "run-instances", *LAUNCH, "--iam-instance-profile", "Name=app"
    )
    encoded = result.stderr.rpartition("Encoded authorization failure message: ")[2].strip()
    decoded = json.loads(
        json_out(
            aws(
                "sts", "decode-authorization-message", "--encoded-message", encoded, sandbox=sandbox
            )
        )["DecodedMessage"]
    )
    assert decoded["allowed"] is False and decoded["explicitDeny"] is False
    assert decoded["context"]["action"] == "iam:PassRole"
    assert decoded["context"]["resource"] == f"arn:aws:iam::{sandbox.account_id}:role/app"
    keys = {
        c["key"]: c["values"]["items"][0]["value"]
        for c in decoded["context"]["conditions"]["items"]
    }
    assert keys["iam:PassedToService"] == "ec2.amazonaws.com"


def test_the_lab_user_passes_any_role(aws, sandbox, profiles):
    """The lab user's "Action": "*" includes iam:PassRole: the lab's own steps still work."""
    launched = json_out(
        aws("ec2", "run-instances", *LAUNCH, "--iam-instance-profile", "Name=app", sandbox=sandbox)
    )["Instances"][0]
    assert launched["IamInstanceProfile"]["Arn"].endswith("instance-profile/app")
    replaced = json_out(
        aws(
            "ec2",
            "replace-iam-instance-profile-association",
            "--iam-instance-profile",
            "Name=app",
            "--association-id",
            profiles["association_id"],
            sandbox=sandbox,
        )
    )
    assert replaced["IamInstanceProfileAssociation"]["IamInstanceProfile"]["Arn"].endswith("/app")
