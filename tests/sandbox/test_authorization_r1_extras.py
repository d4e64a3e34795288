"""Beside R1's regression tests (tests/security_r1/test_r1_authorization.py): the other side
of each fix, through the gate and the real sandbox server, with boto3.

AWS sources followed: real EC2's InvalidParameterCombination for a profile named by both Arn
and Name ("The parameter 'iamInstanceProfile.name' may not be used in combination with
'iamInstanceProfile.arn'", as reported in aws/aws-sdk-java#647 and aws/aws-cli#8058); the EC2
User Guide "Run commands when you launch an EC2 instance with user data input" (user data is
limited to 16 KB before base64) and EC2's "User data is limited to 16384 bytes" refusals; the
IAM API Reference AddRoleToInstanceProfile (the caller needs iam:PassRole on the role); the
IAM User Guide "Access denied error message examples" (the permissions boundary wordings)
and "Permissions boundaries for IAM entities"; EC2 User Guide "Launch an instance from a
launch template" (the template's IAM instance profile is the instance's)."""

import base64
import json

import pytest
from botocore.exceptions import ClientError

from learnlab.gate.client import aws_client
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from tests.sandbox.test_denials import IMAGE_ID, role_session, session_client
from tests.sandbox.test_pass_role import EC2_ALL, pass_role_on, profile_with_role

pytestmark = pytest.mark.django_db(transaction=True)

RUN = {"ImageId": IMAGE_ID, "InstanceType": "t3.micro", "MinCount": 1, "MaxCount": 1}


def _denied(call, *args, **kwargs) -> dict:
    with pytest.raises(ClientError) as denied:
        call(*args, **kwargs)
    return denied.value.response["Error"]


def _profile_of(sandbox, instance_id: str) -> str | None:
    ec2 = aws_client("ec2", sandbox=sandbox)
    found = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}]
    )["IamInstanceProfileAssociations"]
    return found[0]["IamInstanceProfile"]["Arn"] if found else None


def test_a_profile_named_by_both_arn_and_name_is_refused_as_ec2_refuses_it(sandbox):
    """Even when both name the same profile, and even for the lab user: real EC2 answers
    InvalidParameterCombination; nothing is launched."""
    profile_with_role(sandbox, "app")
    ec2 = aws_client("ec2", sandbox=sandbox)
    arn = f"arn:aws:iam::{sandbox.account_id}:instance-profile/app"
    before = len(ec2.describe_instances()["Reservations"])
    error = _denied(ec2.run_instances, **RUN, IamInstanceProfile={"Arn": arn, "Name": "app"})
    assert error["Code"] == "InvalidParameterCombination"
    assert "'iamInstanceProfile.name' may not be used in combination with" in error["Message"]
    assert len(ec2.describe_instances()["Reservations"]) == before


def test_a_launch_templates_profile_is_attached_when_pass_role_allows_it(gate_url, sandbox):
    """With iam:PassRole on the template's role, RunInstances from the template attaches the
    template's profile to the instance, as EC2 does (moto alone launches it bare)."""
    profile_with_role(sandbox, "app")
    key = role_session(sandbox, "launcher", EC2_ALL, pass_role_on(sandbox, "app"))
    ec2 = session_client(gate_url, key, "ec2")
    ec2.create_launch_template(
        LaunchTemplateName="with-role",
        LaunchTemplateData={
            "ImageId": IMAGE_ID,
            "InstanceType": "t3.micro",
            "IamInstanceProfile": {"Name": "app"},
        },
    )
    [instance] = ec2.run_instances(
        MinCount=1, MaxCount=1, LaunchTemplate={"LaunchTemplateName": "with-role"}
    )["Instances"]
    assert _profile_of(sandbox, instance["InstanceId"]).endswith("instance-profile/app")


def test_a_profile_named_in_the_request_wins_over_the_templates(gate_url, sandbox):
    """The request's own profile overrides the template's: PassRole is asked on its role only,
    and it is the one attached."""
    profile_with_role(sandbox, "app")
    profile_with_role(sandbox, "other")
    key = role_session(sandbox, "launcher", EC2_ALL, pass_role_on(sandbox, "other"))
    ec2 = session_client(gate_url, key, "ec2")
    ec2.create_launch_template(
        LaunchTemplateName="with-app",
        LaunchTemplateData={"ImageId": IMAGE_ID, "IamInstanceProfile": {"Name": "app"}},
    )
    [instance] = ec2.run_instances(
        MinCount=1,
        MaxCount=1,
        LaunchTemplate={"LaunchTemplateName": "with-app"},
        IamInstanceProfile={"Name": "other"},
    )["Instances"]
    assert _profile_of(sandbox, instance["InstanceId"]).endswith("instance-profile/other")


def test_add_role_to_instance_profile_with_pass_role_on_the_role_succeeds(gate_url, sandbox):
    """The other side of R1's AddRoleToInstanceProfile fix: PassRole on the role is enough,
    and the denial without it names the role's ARN."""
    iam_lab = aws_client("iam", sandbox=sandbox)
    iam_lab.create_role(RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam_lab.create_role(RoleName="admin", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    manage = {"Effect": "Allow", "Action": "iam:*InstanceProfile*", "Resource": "*"}
    key = role_session(sandbox, "builder", manage, pass_role_on(sandbox, "app"))
    iam = session_client(gate_url, key, "iam")
    iam.create_instance_profile(InstanceProfileName="box")
    iam.add_role_to_instance_profile(InstanceProfileName="box", RoleName="app")
    iam.create_instance_profile(InstanceProfileName="other-box")
    error = _denied(
        iam.add_role_to_instance_profile, InstanceProfileName="other-box", RoleName="admin"
    )
    assert error["Code"] == "AccessDenied"
    assert error["Message"] == (
        f"User: arn:aws:sts::{sandbox.account_id}:assumed-role/builder/i-0denied is not "
        "authorized to perform: iam:PassRole on resource: "
        f"arn:aws:iam::{sandbox.account_id}:role/admin because no identity-based policy "
        "allows the iam:PassRole action"
    )
    roles = iam_lab.get_instance_profile(InstanceProfileName="box")["InstanceProfile"]["Roles"]
    assert [r["RoleName"] for r in roles] == ["app"]


def test_a_permissions_boundary_is_named_in_the_denial(gate_url, sandbox):
    """AWS's words when the boundary refuses: "because no permissions boundary allows the
    <action> action", and "with an explicit deny in a permissions boundary"."""
    iam = aws_client("iam", sandbox=sandbox)
    boundary = iam.create_policy(
        PolicyName="describe-only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "ec2:DescribeVpcs", "Resource": "*"},
                ],
            }
        ),
    )["Policy"]["Arn"]
    key = role_session(sandbox, "bounded", EC2_ALL)
    iam.put_role_permissions_boundary(RoleName="bounded", PermissionsBoundary=boundary)
    ec2 = session_client(gate_url, key, "ec2")
    ec2.describe_instances()  # both allow it
    message = _denied(ec2.run_instances, **RUN)["Message"]
    assert "because no permissions boundary allows the ec2:RunInstances action." in message
    message = _denied(ec2.describe_vpcs)["Message"]
    assert "ec2:DescribeVpcs with an explicit deny in a permissions boundary." in message
    iam.delete_role_permissions_boundary(RoleName="bounded")
    ec2.describe_vpcs()


def test_user_data_limits_at_launch_and_in_a_launch_template(sandbox):
    """RunInstances over 16,384 bytes (raw) is InvalidParameterValue "User data is limited to
    16384 bytes."; a launch template's is InvalidUserData.Malformed; 16,384 is accepted."""
    ec2 = aws_client("ec2", sandbox=sandbox)
    error = _denied(ec2.run_instances, **RUN, UserData=b"\xff" * 16_385)
    assert (error["Code"], error["Message"]) == (
        "InvalidParameterValue",
        "User data is limited to 16384 bytes.",
    )
    ec2.run_instances(**RUN, UserData=b"\xff" * 16_384)
    too_big = base64.b64encode(b"x" * 16_385).decode()
    error = _denied(
        ec2.create_launch_template,
        LaunchTemplateName="big",
        LaunchTemplateData={"ImageId": IMAGE_ID, "UserData": too_big},
    )
    assert error["Code"] == "InvalidUserData.Malformed"
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []


def test_terminating_several_allowed_instances_still_works(gate_url, sandbox):
    """Each instance is evaluated: with all of them allowed, the call goes through; with one
    denied, the denial names that instance's ARN."""
    ec2_lab = aws_client("ec2", sandbox=sandbox)
    ids = [
        i["InstanceId"]
        for i in ec2_lab.run_instances(**{**RUN, "MinCount": 3, "MaxCount": 3})["Instances"]
    ]
    protected = f"arn:aws:ec2:us-east-1:{sandbox.account_id}:instance/{ids[2]}"
    key = role_session(
        sandbox,
        "operator",
        EC2_ALL,
        {"Effect": "Deny", "Action": "ec2:StopInstances", "Resource": protected},
    )
    ec2 = session_client(gate_url, key, "ec2")
    ec2.stop_instances(InstanceIds=ids[:2])
    message = _denied(ec2.stop_instances, InstanceIds=ids)["Message"]
    assert f"ec2:StopInstances on resource: {protected} with an explicit deny" in message


def test_every_instance_of_a_launch_gets_the_profile(sandbox):
    """EC2 attaches the profile to each instance RunInstances launches (moto alone: only the
    first), from the request and from a launch template alike."""
    profile_with_role(sandbox, "app")
    ec2 = aws_client("ec2", sandbox=sandbox)
    two = {**RUN, "MinCount": 2, "MaxCount": 2}
    ids = [
        i["InstanceId"]
        for i in ec2.run_instances(**two, IamInstanceProfile={"Name": "app"})["Instances"]
    ]
    ec2.create_launch_template(
        LaunchTemplateName="with-app",
        LaunchTemplateData={"ImageId": IMAGE_ID, "IamInstanceProfile": {"Name": "app"}},
    )
    ids += [
        i["InstanceId"]
        for i in ec2.run_instances(
            MinCount=2, MaxCount=2, LaunchTemplate={"LaunchTemplateName": "with-app"}
        )["Instances"]
    ]
    assert [(_profile_of(sandbox, i) or "").rpartition("/")[2] for i in ids] == ["app"] * 4


def test_a_template_naming_a_missing_profile_launches_nothing(sandbox):
    """A template whose profile does not exist: refused in IAM's words before anything
    runs (never an instance launched without the role it was meant to have)."""
    ec2 = aws_client("ec2", sandbox=sandbox)
    ec2.create_launch_template(
        LaunchTemplateName="ghost",
        LaunchTemplateData={"ImageId": IMAGE_ID, "IamInstanceProfile": {"Name": "ghost"}},
    )
    with pytest.raises(ClientError) as refused:
        ec2.run_instances(MinCount=1, MaxCount=1, LaunchTemplate={"LaunchTemplateName": "ghost"})
    assert 400 <= refused.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500
    assert ec2.describe_instances()["Reservations"] == []
