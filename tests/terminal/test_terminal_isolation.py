"""The cross-account tricks through the in-page terminal: the real AWS CLI, in-process, through
the real gate. Whatever the learner types, the other learner's account is neither reached nor
named."""

import json

import pytest

from learnlab.gate.client import aws_client
from learnlab.lib.iam_policy import EC2_TRUST_POLICY

pytestmark = pytest.mark.django_db

TRUST = EC2_TRUST_POLICY  # typed inside single quotes


@pytest.fixture
def bob(make_sandbox):
    bob = make_sandbox()
    aws_client("iam", sandbox=bob).create_role(
        RoleName="ec2-only", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    return bob


def bobs_world(bob) -> dict:
    iam, ec2 = aws_client("iam", sandbox=bob), aws_client("ec2", sandbox=bob)
    return {
        "roles": sorted(r["Arn"] for r in iam.list_roles()["Roles"]),
        "peerings": ec2.describe_vpc_peering_connections()["VpcPeeringConnections"],
    }


def default_vpc(sandbox) -> str:
    return aws_client("ec2", sandbox=sandbox).describe_vpcs()["Vpcs"][0]["VpcId"]


@pytest.mark.parametrize("role", ["ec2-only", "no-such-role"])
def test_assume_role_in_another_account_is_refused_without_naming_it(run, bob, role):
    result = run(
        f"aws sts assume-role --role-arn arn:aws:iam::{bob.account_id}:role/{role} "
        "--role-session-name escape"
    )
    assert result.exit_status == 255, result.output
    assert "An error occurred (AccessDenied) when calling the AssumeRole operation" in (
        result.output
    )
    assert "SecretAccessKey" not in result.output
    assert bob.account_id not in result.output


def test_vpc_peering_with_another_accounts_bare_id_is_refused(run, sandbox, bob):
    """`--peer-owner-id <Bob>` is a bare 12-digit id, no ARN: the peering appeared in Bob's
    account."""
    before = bobs_world(bob)
    result = run(
        f"aws ec2 create-vpc-peering-connection --vpc-id {default_vpc(sandbox)} "
        f"--peer-vpc-id {default_vpc(bob)} --peer-owner-id {bob.account_id}"
    )
    assert result.exit_status == 255, result.output
    assert "(UnauthorizedOperation)" in result.output
    assert bob.account_id not in result.output
    assert bobs_world(bob) == before
    own = run(
        f"aws ec2 create-vpc-peering-connection --vpc-id {default_vpc(sandbox)} "
        f"--peer-vpc-id {default_vpc(sandbox)}"
    )
    assert own.exit_status == 0, own.output


def test_describe_images_owned_by_another_account_is_refused(run, bob):
    result = run(f"aws ec2 describe-images --owners {bob.account_id}")
    assert result.exit_status == 255, result.output
    assert "(UnauthorizedOperation)" in result.output
    assert bob.account_id not in result.output
    assert run("aws ec2 describe-images --owners self").exit_status == 0


def test_a_json_escaped_account_in_a_trust_policy_is_seen(run, sandbox, bob):
    r"""The CLI sends the document as typed; `\u0031...` escapes hid Bob's id from the gate's
    regex, and moto decodes them."""
    escaped_id = "".join(f"\\u{ord(c):04x}" for c in bob.account_id)
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "ARN"}, "Action": "sts:AssumeRole"}
            ],
        }
    ).replace("ARN", f"\\u0061rn:aws:iam::{escaped_id}:root")
    result = run(f"aws iam create-role --role-name door --assume-role-policy-document '{document}'")
    assert result.exit_status == 255, result.output
    assert "(AccessDenied)" in result.output
    assert bob.account_id not in result.output
    assert aws_client("iam", sandbox=sandbox).list_roles()["Roles"] == []


def test_the_lab_commands_still_work(run, sandbox):
    """The allowlist and the account check leave the lab's own commands alone."""
    lines = [
        f"aws iam create-role --role-name S3Access --assume-role-policy-document '{TRUST}'",
        "aws iam attach-role-policy --role-name S3Access "
        "--policy-arn arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
        "aws iam get-role --role-name S3Access --query Role.Arn --output text",
        "aws iam create-instance-profile --instance-profile-name Webserver",
        "aws iam add-role-to-instance-profile --role-name S3Access "
        "--instance-profile-name Webserver",
        "aws ec2 run-instances --image-id ami-0453ec754f44f9a4a --instance-type t3.micro "
        "--iam-instance-profile Name=Webserver",
        "aws ec2 describe-iam-instance-profile-associations",
        "aws sts get-caller-identity",
        f"aws s3 mb s3://lab-{sandbox.account_id}",
        "aws s3 ls",
        f"aws s3api put-bucket-tagging --bucket lab-{sandbox.account_id} "
        "--tagging 'TagSet=[{Key=owner,Value=me}]'",
        f"aws s3api get-bucket-tagging --bucket lab-{sandbox.account_id}",
    ]
    for line in lines:
        result = run(line)
        assert result.exit_status == 0, (line, result.output)
