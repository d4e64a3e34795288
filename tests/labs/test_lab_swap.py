"""The swap-and-pass-role lab (content/swap-and-pass-role.toml): keys the learner makes for an
IAM user of their own work at the gate (until deleted or made inactive), and the checks, on a
real sandbox server with the real AWS CLI over HTTP."""

import json

import pytest
from botocore import xform_name

from learnlab.gate.client import aws_client
from learnlab.labs.catalog import lab_get
from learnlab.labs.checks import CHECKS, SandboxView
from learnlab.labs.preview import preview_fetch
from learnlab.sandbox.models import AccessKey
from tests.helpers import json_out

pytestmark = pytest.mark.django_db


def _prepared(sandbox) -> str:
    """The lab's own [[setup]] calls; returns the swap-app instance's id."""
    clients, instance_id = {}, ""
    for call in lab_get("swap-and-pass-role").setup:
        client = clients.setdefault(call.service, aws_client(call.service, sandbox=sandbox))
        answer = getattr(client, xform_name(call.operation))(**call.params)
        if call.operation == "RunInstances":
            instance_id = answer["Instances"][0]["InstanceId"]
    return instance_id


def test_a_users_own_keys_work_until_inactive_or_deleted(sandbox, aws):
    """Follows IAM's "Manage access keys for IAM users" (AWS docs): a key works as soon as
    CreateAccessKey returns it, an Inactive or deleted key is refused; GetCallerIdentity names
    the user."""
    aws("iam", "create-user", "--user-name", "operator", sandbox=sandbox, check=True)
    made = [
        json_out(aws("iam", "create-access-key", "--user-name", "operator", sandbox=sandbox))
        for _ in range(2)
    ]
    keys = [(m["AccessKey"]["AccessKeyId"], m["AccessKey"]["SecretAccessKey"]) for m in made]
    for key_id, secret in keys:
        who = json_out(aws("sts", "get-caller-identity", key_id=key_id, secret=secret))
        assert who["Arn"] == f"arn:aws:iam::{sandbox.account_id}:user/operator"
    stored = AccessKey.objects.get(access_key_id=keys[0][0])
    assert stored.kind == AccessKey.Kind.IAM_USER and stored.sandbox == sandbox

    aws("iam", "update-access-key", "--user-name", "operator", "--access-key-id", keys[0][0],
        "--status", "Inactive", sandbox=sandbox, check=True)  # fmt: skip
    refused = aws("sts", "get-caller-identity", key_id=keys[0][0], secret=keys[0][1])
    assert refused.returncode != 0 and "InvalidClientTokenId" in refused.stderr
    aws("iam", "delete-access-key", "--user-name", "operator", "--access-key-id", keys[1][0],
        sandbox=sandbox, check=True)  # fmt: skip
    refused = aws("sts", "get-caller-identity", key_id=keys[1][0], secret=keys[1][1])
    assert refused.returncode != 0 and "InvalidClientTokenId" in refused.stderr
    assert not AccessKey.objects.filter(kind=AccessKey.Kind.IAM_USER).exists()


def test_another_sandboxs_key_id_is_never_forgotten_by_this_one(make_sandbox, aws):
    mine, theirs = make_sandbox(), make_sandbox()
    aws("iam", "create-user", "--user-name", "operator", sandbox=theirs, check=True)
    made = json_out(aws("iam", "create-access-key", "--user-name", "operator", sandbox=theirs))
    their_key = made["AccessKey"]["AccessKeyId"]
    aws("iam", "create-user", "--user-name", "operator", sandbox=mine, check=True)
    aws("iam", "delete-access-key", "--user-name", "operator", "--access-key-id", their_key,
        sandbox=mine)  # fmt: skip
    assert AccessKey.objects.filter(access_key_id=their_key, sandbox=theirs).exists()


def test_swap_then_pass_role_checks(sandbox, aws):
    """Follows EC2's "Replace an IAM role" (replace-iam-instance-profile-association on a
    running instance) and IAM's "Grant a user permissions to pass a role to an AWS service":
    the attach needs iam:PassRole on the role, scoped to that role's ARN."""
    instance_id = _prepared(sandbox)
    view = lambda: SandboxView(sandbox)  # noqa: E731
    swapped, passed = CHECKS["role_swapped_live"], CHECKS["pass_role_scoped"]
    assert "carries role AppRoleA" in swapped(view()).message
    ec2 = aws_client("ec2", sandbox=sandbox)
    association = ec2.describe_iam_instance_profile_associations()[
        "IamInstanceProfileAssociations"
    ][0]["AssociationId"]
    ec2.replace_iam_instance_profile_association(
        AssociationId=association, IamInstanceProfile={"Name": "AppRoleB"}
    )
    assert "See the switch from the instance" in swapped(view()).message
    url = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    listed = preview_fetch(sandbox=sandbox, instance_id=instance_id, url=url)
    assert listed.body == "AppRoleB"
    preview_fetch(sandbox=sandbox, instance_id=instance_id, url=url + "AppRoleB")
    assert swapped(view()).passed

    assert "has not met the PassRole refusal" in passed(view()).message
    made = json_out(aws("iam", "create-access-key", "--user-name", "operator", sandbox=sandbox))
    operator = {"key_id": made["AccessKey"]["AccessKeyId"],
                "secret": made["AccessKey"]["SecretAccessKey"]}  # fmt: skip
    association = ec2.describe_iam_instance_profile_associations()[
        "IamInstanceProfileAssociations"
    ][0]["AssociationId"]
    replace = ("ec2", "replace-iam-instance-profile-association", "--association-id",
               association, "--iam-instance-profile", "Name=AppRoleA")  # fmt: skip
    refused = aws(*replace, **operator)
    assert refused.returncode != 0 and "iam:PassRole" in refused.stderr
    assert "Now, as your lab user" in passed(view()).message

    def allow(resource: str) -> None:
        aws("iam", "put-user-policy", "--user-name", "operator", "--policy-name", "Pass",
            "--policy-document", json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "iam:PassRole", "Resource": resource}]}),
            sandbox=sandbox, check=True)  # fmt: skip

    allow("arn:aws:iam::*:role/*")
    assert "any role that matches" in passed(view()).message
    allow(f"arn:aws:iam::{sandbox.account_id}:role/AppRoleA")
    assert "put AppRoleA back" in passed(view()).message
    aws(*replace, **operator, check=True)
    result = passed(view())
    assert result.passed, result.message
    assert swapped(view()).passed  # step 1 stays green after step 2
