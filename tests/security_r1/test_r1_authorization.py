"""Red team R1: a hostile learner attacks the identity-policy evaluator and iam:PassRole
(``sandbox/authorization.py``) through the gate and the real sandbox server, with boto3.

AWS pages followed: IAM User Guide "Policy evaluation logic" and "Permissions boundaries for
IAM entities"; "Grant a user permissions to pass a role to an AWS service"; IAM API Reference
AddRoleToInstanceProfile ("The caller of this operation must be granted the PassRole
permission on the IAM role by a permissions policy"); the Service Authorization Reference for
Amazon EC2 (the resource types each action is authorized against: TerminateInstances and
DisassociateIamInstanceProfile on ``instance``); IAM User Guide "IAM JSON policy elements:
Condition" (a statement applies only when its conditions hold)."""

import contextlib
import json

import pytest
from botocore.exceptions import ClientError

from learnlab.gate.client import aws_client
from tests.helpers import gate_client
from tests.sandbox.test_denials import IMAGE_ID, role_session, session_client
from tests.sandbox.test_pass_role import EC2_ALL, pass_role_on, profile_with_role

pytestmark = pytest.mark.django_db(transaction=True)

RUN = {"ImageId": IMAGE_ID, "InstanceType": "t3.micro", "MinCount": 1, "MaxCount": 1}
IAM_ALL_BUT_PASS_ROLE = {"Effect": "Allow", "NotAction": "iam:PassRole", "Resource": "*"}


def _policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _association(sandbox, instance_id: str) -> str | None:
    """The ARN of the profile EC2 says is attached to ``instance_id``, if any."""
    ec2 = aws_client("ec2", sandbox=sandbox)
    found = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}]
    )["IamInstanceProfileAssociations"]
    return found[0]["IamInstanceProfile"]["Arn"] if found else None


def _instances_with(sandbox, profile: str) -> list[str]:
    ec2 = aws_client("ec2", sandbox=sandbox)
    return [
        a["InstanceId"]
        for a in ec2.describe_iam_instance_profile_associations()["IamInstanceProfileAssociations"]
        if a["IamInstanceProfile"]["Arn"].endswith(f"instance-profile/{profile}")
    ]


def _denied(call, *args, **kwargs) -> dict:
    with pytest.raises(ClientError) as denied:
        call(*args, **kwargs)
    return denied.value.response["Error"]


# PassRole bypasses


def test_run_instances_naming_two_profiles_cannot_smuggle_an_unpassable_role(sandbox):
    """Attack: RunInstances with IamInstanceProfile.Arn = a profile whose role I may pass and
    IamInstanceProfile.Name = another profile whose role I may not. AWS either refuses the
    mismatched pair or asks iam:PassRole for the role it attaches; never does an instance end
    up carrying ``admin`` without iam:PassRole on role/admin."""
    profile_with_role(sandbox, "app")  # made first: the evaluator's scan meets it first
    profile_with_role(sandbox, "admin")
    key = role_session(sandbox, "launcher", EC2_ALL, pass_role_on(sandbox, "app"))
    ec2 = session_client_for(sandbox, key)
    app_arn = f"arn:aws:iam::{sandbox.account_id}:instance-profile/app"
    with contextlib.suppress(ClientError):  # a refusal is fine, if nothing got ``admin``
        ec2.run_instances(**RUN, IamInstanceProfile={"Arn": app_arn, "Name": "admin"})
    assert _instances_with(sandbox, "admin") == []


def test_a_role_added_to_an_already_attached_profile_needs_pass_role(sandbox):
    """Attack: associate an empty profile (no role, so no PassRole asked), then
    AddRoleToInstanceProfile with a role I may not pass: the instance now gets its
    credentials. AWS's AddRoleToInstanceProfile: "The caller of this operation must be
    granted the PassRole permission on the IAM role"; expected AccessDenied naming
    iam:PassRole, and the profile stays empty."""
    iam_lab = aws_client("iam", sandbox=sandbox)
    iam_lab.create_role(
        RoleName="admin",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    key = role_session(sandbox, "launcher", EC2_ALL, IAM_ALL_BUT_PASS_ROLE)
    ec2, iam = session_client_for(sandbox, key), session_client_for(sandbox, key, "iam")
    iam.create_instance_profile(InstanceProfileName="empty")
    instance_id = ec2.run_instances(**RUN, IamInstanceProfile={"Name": "empty"})["Instances"][0][
        "InstanceId"
    ]
    assert _association(sandbox, instance_id).endswith("instance-profile/empty")
    error = _denied(iam.add_role_to_instance_profile, InstanceProfileName="empty", RoleName="admin")
    assert error["Code"] == "AccessDenied"
    assert "iam:PassRole" in error["Message"]
    assert (
        iam_lab.get_instance_profile(InstanceProfileName="empty")["InstanceProfile"]["Roles"] == []
    )


def test_pass_role_allowed_only_for_another_service_does_not_pass_to_ec2(sandbox):
    """Attack (over-allow): my only PassRole grant is conditioned on iam:PassedToService =
    lambda.amazonaws.com. AWS evaluates the condition against ec2.amazonaws.com, it does not
    hold, the statement does not apply: RunInstances with the profile is UnauthorizedOperation
    naming iam:PassRole (IAM User Guide, "iam:PassedToService")."""
    profile_with_role(sandbox, "app")
    lambda_only = {
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": "*",
        "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
    }
    key = role_session(sandbox, "launcher", EC2_ALL, lambda_only)
    ec2 = session_client_for(sandbox, key)
    error = _denied(ec2.run_instances, **RUN, IamInstanceProfile={"Name": "app"})
    assert error["Code"] == "UnauthorizedOperation"
    assert "iam:PassRole" in error["Message"]


def test_an_allow_conditioned_on_an_instance_type_does_not_allow_another(sandbox):
    """Attack (over-allow): ec2:RunInstances is allowed only when ec2:InstanceType is
    t3.nano; I launch a t3.micro. AWS: the condition does not hold, no statement allows the
    call, UnauthorizedOperation."""
    nano_only = {
        "Effect": "Allow",
        "Action": "ec2:RunInstances",
        "Resource": "*",
        "Condition": {"StringEquals": {"ec2:InstanceType": "t3.nano"}},
    }
    key = role_session(sandbox, "launcher", nano_only)
    ec2 = session_client_for(sandbox, key)
    error = _denied(ec2.run_instances, **RUN)
    assert error["Code"] == "UnauthorizedOperation"


def test_a_deny_whose_condition_does_not_hold_denies_nothing(sandbox):
    """A Deny of ec2:* when aws:RequestedRegion is eu-west-1, beside an Allow of ec2:*; the
    call is in us-east-1. AWS: the Deny does not apply, DescribeInstances succeeds."""
    elsewhere = {
        "Effect": "Deny",
        "Action": "ec2:*",
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
    }
    key = role_session(sandbox, "reader", EC2_ALL, elsewhere)
    assert "Reservations" in session_client_for(sandbox, key).describe_instances()


def test_a_launch_templates_profile_needs_pass_role(sandbox):
    """Attack: put the profile in a launch template (CreateLaunchTemplate is allowed) and
    RunInstances from it without naming a profile. AWS attaches the template's profile and
    asks iam:PassRole on its role: UnauthorizedOperation naming iam:PassRole."""
    profile_with_role(sandbox, "app")
    key = role_session(sandbox, "launcher", EC2_ALL)
    ec2 = session_client_for(sandbox, key)
    ec2.create_launch_template(
        LaunchTemplateName="with-role",
        LaunchTemplateData={
            "ImageId": IMAGE_ID,
            "InstanceType": "t3.micro",
            "IamInstanceProfile": {"Name": "app"},
        },
    )
    error = _denied(
        ec2.run_instances,
        MinCount=1,
        MaxCount=1,
        LaunchTemplate={"LaunchTemplateName": "with-role"},
    )
    assert error["Code"] == "UnauthorizedOperation"
    assert "iam:PassRole" in error["Message"]


def test_pass_role_is_asked_for_a_profile_named_by_its_arn_with_a_path(sandbox):
    """A profile and role under path /team/, the profile named by its full ARN: PassRole is
    asked on the role's ARN with its path (held: no grant for role/app without the path
    counts)."""
    iam = aws_client("iam", sandbox=sandbox)
    iam.create_role(
        RoleName="app",
        Path="/team/",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    arn = iam.create_instance_profile(InstanceProfileName="app", Path="/team/")["InstanceProfile"][
        "Arn"
    ]
    iam.add_role_to_instance_profile(InstanceProfileName="app", RoleName="app")
    key = role_session(sandbox, "launcher", EC2_ALL, pass_role_on(sandbox, "app"))
    ec2 = session_client_for(sandbox, key)
    error = _denied(ec2.run_instances, **RUN, IamInstanceProfile={"Arn": arn})
    assert error["Code"] == "UnauthorizedOperation"
    assert "role/team/app because no identity-based policy allows" in error["Message"]


# Resources AWS evaluates


def test_terminating_several_instances_evaluates_each_one(sandbox):
    """Attack: a Deny of ec2:TerminateInstances on instance B; TerminateInstances(A, B).
    AWS authorizes each instance resource: the call is UnauthorizedOperation and B keeps
    running."""
    ec2_lab = aws_client("ec2", sandbox=sandbox)
    ids = [
        i["InstanceId"]
        for i in ec2_lab.run_instances(**{**RUN, "MaxCount": 2, "MinCount": 2})["Instances"]
    ]
    protected = f"arn:aws:ec2:us-east-1:{sandbox.account_id}:instance/{ids[1]}"
    key = role_session(
        sandbox,
        "operator",
        EC2_ALL,
        {"Effect": "Deny", "Action": "ec2:TerminateInstances", "Resource": protected},
    )
    ec2 = session_client_for(sandbox, key)
    try:
        ec2.terminate_instances(InstanceIds=ids)
    except ClientError as error:
        assert error.response["Error"]["Code"] == "UnauthorizedOperation"
    state = ec2_lab.describe_instances(InstanceIds=[ids[1]])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "running"


def test_disassociating_by_association_id_is_evaluated_on_the_instance(sandbox):
    """Attack: a Deny of ec2:DisassociateIamInstanceProfile on my instance's ARN; the call
    names only the AssociationId. AWS authorizes it against the instance
    (Service Authorization Reference): UnauthorizedOperation, the profile stays."""
    profile_with_role(sandbox, "app")
    ec2_lab = aws_client("ec2", sandbox=sandbox)
    instance_id = ec2_lab.run_instances(**RUN, IamInstanceProfile={"Name": "app"})["Instances"][0][
        "InstanceId"
    ]
    association_id = ec2_lab.describe_iam_instance_profile_associations()[
        "IamInstanceProfileAssociations"
    ][0]["AssociationId"]
    key = role_session(
        sandbox,
        "operator",
        EC2_ALL,
        {
            "Effect": "Deny",
            "Action": "ec2:DisassociateIamInstanceProfile",
            "Resource": f"arn:aws:ec2:us-east-1:{sandbox.account_id}:instance/{instance_id}",
        },
    )
    ec2 = session_client_for(sandbox, key)
    try:
        ec2.disassociate_iam_instance_profile(AssociationId=association_id)
    except ClientError as error:
        assert error.response["Error"]["Code"] == "UnauthorizedOperation"
    assert _association(sandbox, instance_id) is not None


# Policy sources


def test_a_permissions_boundary_caps_a_role_sessions_rights(sandbox):
    """A role allowed ec2:* inline, with a permissions boundary allowing only s3:*. AWS: the
    effective permissions are the intersection; DescribeInstances is UnauthorizedOperation."""
    iam = aws_client("iam", sandbox=sandbox)
    boundary = iam.create_policy(
        PolicyName="s3-only",
        PolicyDocument=_policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
    )["Policy"]["Arn"]
    key = role_session(sandbox, "bounded", EC2_ALL)
    iam.put_role_permissions_boundary(RoleName="bounded", PermissionsBoundary=boundary)
    error = _denied(session_client_for(sandbox, key).describe_instances)
    assert error["Code"] == "UnauthorizedOperation"


def test_only_the_default_policy_version_counts(sandbox):
    """Held: a managed policy whose default v1 allows s3:ListAllMyBuckets and whose
    non-default v2 allows ec2:*. EC2 is refused until v2 is made the default; then S3 is."""
    iam = aws_client("iam", sandbox=sandbox)
    arn = iam.create_policy(
        PolicyName="versioned",
        PolicyDocument=_policy(
            {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}
        ),
    )["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=_policy(EC2_ALL), SetAsDefault=False)
    key = role_session(
        sandbox,
        "versioned",
        {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"},
    )
    iam.attach_role_policy(RoleName="versioned", PolicyArn=arn)
    ec2, s3 = session_client_for(sandbox, key), session_client_for(sandbox, key, "s3")
    assert _denied(ec2.describe_instances)["Code"] == "UnauthorizedOperation"
    s3.list_buckets()
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v2")
    ec2.describe_instances()
    assert _denied(s3.list_buckets)["Code"] == "AccessDenied"


def test_a_deny_in_a_group_of_the_lab_user_applies_and_can_be_undone(gate_url, sandbox):
    """Held: the lab user added to a group whose inline policy denies iam:ListRoles is
    refused ListRoles in AWS's words (the group's policies count); leaving the group (still
    allowed) restores it."""
    iam = gate_client(gate_url, sandbox, "iam")
    user = iam.get_user()["User"]["UserName"]
    iam.create_group(GroupName="locked")
    iam.put_group_policy(
        GroupName="locked",
        PolicyName="no-list",
        PolicyDocument=_policy({"Effect": "Deny", "Action": "iam:ListRoles", "Resource": "*"}),
    )
    iam.add_user_to_group(GroupName="locked", UserName=user)
    error = _denied(iam.list_roles)
    assert error["Code"] == "AccessDenied"
    assert error["Message"].endswith("with an explicit deny in an identity-based policy")
    iam.remove_user_from_group(GroupName="locked", UserName=user)
    iam.list_roles()


def test_decoding_a_message_needs_sts_decode_authorization_message(sandbox):
    """Held: a role allowed only ec2:* gets an encoded message but may not decode it (AWS:
    "The requester must have permissions to this action"): AccessDenied naming
    sts:DecodeAuthorizationMessage. The lab user may."""
    key = role_session(
        sandbox, "no-decode", {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}
    )
    ec2, sts = session_client_for(sandbox, key), session_client_for(sandbox, key, "sts")
    message = _denied(ec2.run_instances, **RUN)["Message"]
    encoded = message.rpartition("Encoded authorization failure message: ")[2].strip()
    error = _denied(sts.decode_authorization_message, EncodedMessage=encoded)
    assert error["Code"] == "AccessDenied"
    assert "sts:DecodeAuthorizationMessage" in error["Message"]
    decoded = aws_client("sts", sandbox=sandbox).decode_authorization_message(
        EncodedMessage=encoded
    )
    assert json.loads(decoded["DecodedMessage"])["context"]["action"] == "ec2:RunInstances"


def test_a_session_of_a_deleted_role_is_refused_without_a_server_error(sandbox):
    """Attack: credentials minted for a role that is then deleted. AWS refuses the
    calls in each service's words (4xx: the role and its policies are gone); never a 500."""
    key = role_session(
        sandbox, "gone", EC2_ALL, {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}
    )
    iam_lab = aws_client("iam", sandbox=sandbox)
    iam_lab.delete_role_policy(RoleName="gone", PolicyName="permissions")
    iam_lab.delete_role(RoleName="gone")
    for service, call in (
        ("ec2", "describe_instances"),
        ("iam", "list_roles"),
        ("s3", "list_buckets"),
    ):
        client = session_client_for(sandbox, key, service)
        with pytest.raises(ClientError) as refused:
            getattr(client, call)()
        status = refused.value.response["ResponseMetadata"]["HTTPStatusCode"]
        assert 400 <= status < 500, (service, status, refused.value.response["Error"])


# A session client at the live gate


@pytest.fixture(autouse=True)
def _gate(gate_url):
    session_client_for.gate_url = gate_url


def session_client_for(sandbox, key, service: str = "ec2"):
    return session_client(session_client_for.gate_url, key, service)
