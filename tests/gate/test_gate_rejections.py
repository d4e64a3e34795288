"""Every rejection of the AWS gate, as the real AWS CLI prints it."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from learnlab.gate.client import aws_client
from learnlab.gate.parsing import GATE_PREFIX
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.services import role_credentials_mint
from tests.helpers import json_out

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_lab_keys_work_with_the_real_cli(aws, sandbox):
    identity = json_out(aws("sts", "get-caller-identity", sandbox=sandbox))
    assert identity["Account"] == sandbox.account_id
    assert identity["Arn"] == f"arn:aws:iam::{sandbox.account_id}:user/learnlab"


def test_an_unknown_key_is_an_invalid_client_token(aws, sandbox):
    result = aws("iam", "list-roles", key_id="AKIAIOSFODNN7EXAMPLE", secret="x" * 40)
    assert result.returncode != 0
    assert "An error occurred (InvalidClientTokenId) when calling the ListRoles operation" in (
        result.stderr
    )


def test_an_unknown_key_on_s3_is_an_invalid_access_key_id(aws, sandbox):
    result = aws("s3api", "list-buckets", key_id="AKIAIOSFODNN7EXAMPLE", secret="x" * 40)
    assert "(InvalidAccessKeyId)" in result.stderr


def test_a_wrong_secret_is_a_signature_mismatch(aws, sandbox):
    key = sandbox.lab_key()
    result = aws("iam", "list-roles", key_id=key.access_key_id, secret="wrong" * 8)
    assert "An error occurred (SignatureDoesNotMatch) when calling the ListRoles operation" in (
        result.stderr
    )


def test_a_wrong_secret_on_ec2_is_an_auth_failure_as_in_aws(aws, sandbox):
    key = sandbox.lab_key()
    result = aws("ec2", "describe-instances", key_id=key.access_key_id, secret="wrong" * 8)
    assert "(AuthFailure)" in result.stderr


@pytest.fixture
def role_session(sandbox):
    """Temporary credentials of a role ``app``, as an instance ``i-0abc`` would get them."""
    aws_client("iam", sandbox=sandbox).create_role(
        RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    return role_credentials_mint(
        sandbox=sandbox, role_name="app", session_name="i-0abc", duration_seconds=3600
    )


def test_expired_session_credentials_are_an_expired_token(aws, role_session):
    key = role_session
    args = {
        "key_id": key.access_key_id,
        "secret": key.secret_access_key,
        "token": key.session_token,
    }
    assert json_out(aws("sts", "get-caller-identity", **args))["Arn"].endswith(
        "assumed-role/app/i-0abc"
    )

    key.expires_at = timezone.now() - timedelta(seconds=1)
    key.save()
    result = aws("sts", "get-caller-identity", **args)
    assert (
        "An error occurred (ExpiredToken) when calling the GetCallerIdentity operation: "
        "The security token included in the request is expired" in result.stderr
    )


def test_a_session_key_with_the_wrong_token_is_rejected(aws, role_session):
    key = role_session
    result = aws(
        "sts",
        "get-caller-identity",
        key_id=key.access_key_id,
        secret=key.secret_access_key,
        token="forged-token",
    )
    assert "(InvalidClientTokenId)" in result.stderr


def test_a_request_naming_another_account_is_denied(aws, sandbox):
    other = "210987654321"
    result = aws(
        "iam", "get-policy", "--policy-arn", f"arn:aws:iam::{other}:policy/x", sandbox=sandbox
    )
    assert "An error occurred (AccessDenied) when calling the GetPolicy operation" in result.stderr
    assert "reaches only its own account" in result.stderr
    assert other not in result.stderr  # no answer names another learner's account


def test_moto_api_is_out_of_reach(live_server, sandbox, aws):
    import urllib.error
    import urllib.request

    for path in ("/aws/moto-api/reset", "/aws/moto-api/data.json", "/aws/_admin/health"):
        request = urllib.request.Request(live_server.url + path, method="POST", data=b"")
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(request)
        assert denied.value.code == 403
        assert b"AccessDenied" in denied.value.read()
    # ...and the learner's sandbox is untouched.
    assert aws("sts", "get-caller-identity", sandbox=sandbox).returncode == 0


def test_an_unsigned_request_is_missing_authentication(live_server, sandbox_server):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        live_server.url + GATE_PREFIX, data=b"Action=ListRoles&Version=2010-05-08"
    )
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(request)
    assert denied.value.code == 403


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "This policy contains invalid Json"),
        (
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ec2.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Resource": "*",
                        }
                    ],
                }
            ),
            "Has prohibited field Resource.",
        ),
        (
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ec2.amazonaws.com"},
                            "Action": "s3:GetObject",
                        }
                    ],
                }
            ),
            "Trust Policy statement actions can only be sts:AssumeRole",
        ),
        (
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}],
                }
            ),
            "Missing required field Principal",
        ),
        (
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ec2"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            'Invalid principal in policy: "SERVICE":"ec2"',
        ),
    ],
)
def test_malformed_trust_policies_are_refused_as_aws_words_it(aws, sandbox, document, message):
    created = aws(
        "iam",
        "create-role",
        "--role-name",
        "bad",
        "--assume-role-policy-document",
        document,
        sandbox=sandbox,
    )
    assert (
        "An error occurred (MalformedPolicyDocument) when calling the CreateRole operation: "
        + message
        in created.stderr
    )
    assert aws("iam", "get-role", "--role-name", "bad", sandbox=sandbox).returncode != 0

    aws(
        "iam",
        "create-role",
        "--role-name",
        "good",
        "--assume-role-policy-document",
        EC2_TRUST_POLICY,
        sandbox=sandbox,
        check=True,
    )
    updated = aws(
        "iam",
        "update-assume-role-policy",
        "--role-name",
        "good",
        "--policy-document",
        document,
        sandbox=sandbox,
    )
    assert (
        "(MalformedPolicyDocument) when calling the UpdateAssumeRolePolicy operation: " + message
        in updated.stderr
    )


@pytest.fixture
def role_and_profile(aws, sandbox):
    """A role ``app-role`` in a profile named differently, ``app-profile``."""
    for args in (
        (
            "iam",
            "create-role",
            "--role-name",
            "app-role",
            "--assume-role-policy-document",
            EC2_TRUST_POLICY,
        ),
        ("iam", "create-instance-profile", "--instance-profile-name", "app-profile"),
        (
            "iam",
            "add-role-to-instance-profile",
            "--instance-profile-name",
            "app-profile",
            "--role-name",
            "app-role",
        ),
    ):
        aws(*args, sandbox=sandbox, check=True)


def _run_instance(aws, sandbox, *profile_args):
    return aws(
        "ec2",
        "run-instances",
        "--image-id",
        "ami-0453ec754f44f9a4a",
        "--instance-type",
        "t3.micro",
        *profile_args,
        sandbox=sandbox,
    )


def test_a_role_name_where_a_profile_belongs_is_an_invalid_parameter(
    aws, sandbox, role_and_profile
):
    result = _run_instance(aws, sandbox, "--iam-instance-profile", "Name=app-role")
    assert (
        "An error occurred (InvalidParameterValue) when calling the RunInstances operation: "
        "Value (app-role) for parameter iamInstanceProfile.name is invalid. "
        "Invalid IAM Instance Profile name"
    ) in result.stderr
    instances = json_out(aws("ec2", "describe-instances", sandbox=sandbox))
    assert instances["Reservations"] == []


def test_a_role_arn_where_a_profile_belongs_is_an_invalid_parameter(aws, sandbox, role_and_profile):
    arn = f"arn:aws:iam::{sandbox.account_id}:role/app-role"
    result = _run_instance(aws, sandbox, "--iam-instance-profile", f"Arn={arn}")
    assert (
        f"(InvalidParameterValue) when calling the RunInstances operation: Value ({arn}) for "
        "parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN"
    ) in result.stderr


def test_the_profile_name_launches_with_the_profile_attached(aws, sandbox, role_and_profile):
    launched = json_out(_run_instance(aws, sandbox, "--iam-instance-profile", "Name=app-profile"))
    profile = launched["Instances"][0]["IamInstanceProfile"]
    assert profile["Arn"] == f"arn:aws:iam::{sandbox.account_id}:instance-profile/app-profile"


def test_associating_a_role_name_is_an_invalid_parameter(aws, sandbox, role_and_profile):
    launched = json_out(_run_instance(aws, sandbox))
    instance_id = launched["Instances"][0]["InstanceId"]
    result = aws(
        "ec2",
        "associate-iam-instance-profile",
        "--instance-id",
        instance_id,
        "--iam-instance-profile",
        "Name=app-role",
        sandbox=sandbox,
    )
    assert (
        "(InvalidParameterValue) when calling the AssociateIamInstanceProfile operation: "
        "Value (app-role) for parameter iamInstanceProfile.name is invalid. "
        "Invalid IAM Instance Profile name"
    ) in result.stderr
    associated = aws(
        "ec2",
        "associate-iam-instance-profile",
        "--instance-id",
        instance_id,
        "--iam-instance-profile",
        "Name=app-profile",
        sandbox=sandbox,
    )
    assert json_out(associated)["IamInstanceProfileAssociation"]["InstanceId"] == instance_id


def test_assume_role_follows_the_trust_policy(aws, sandbox):
    account = sandbox.account_id
    aws(
        "iam",
        "create-role",
        "--role-name",
        "ec2-only",
        "--assume-role-policy-document",
        EC2_TRUST_POLICY,
        sandbox=sandbox,
        check=True,
    )
    trust_account = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    aws(
        "iam",
        "create-role",
        "--role-name",
        "admins",
        "--assume-role-policy-document",
        trust_account,
        sandbox=sandbox,
        check=True,
    )

    denied = aws(
        "sts",
        "assume-role",
        "--role-arn",
        f"arn:aws:iam::{account}:role/ec2-only",
        "--role-session-name",
        "me",
        sandbox=sandbox,
    )
    assert (
        f"(AccessDenied) when calling the AssumeRole operation: User: "
        f"arn:aws:iam::{account}:user/learnlab is not authorized to perform: sts:AssumeRole on "
        f"resource: arn:aws:iam::{account}:role/ec2-only"
    ) in denied.stderr

    missing = aws(
        "sts",
        "assume-role",
        "--role-arn",
        f"arn:aws:iam::{account}:role/nope",
        "--role-session-name",
        "me",
        sandbox=sandbox,
    )
    assert "(AccessDenied)" in missing.stderr

    assumed = json_out(
        aws(
            "sts",
            "assume-role",
            "--role-arn",
            f"arn:aws:iam::{account}:role/admins",
            "--role-session-name",
            "me",
            sandbox=sandbox,
        )
    )
    assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account}:assumed-role/admins/me"


def test_the_in_process_client_takes_the_same_gate(sandbox):
    iam = aws_client("iam", sandbox=sandbox)
    with pytest.raises(iam.exceptions.MalformedPolicyDocumentException):
        iam.create_role(RoleName="x", AssumeRolePolicyDocument="not json")
    iam.create_role(RoleName="x", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["x"]


def test_a_client_token_ending_in_twelve_digits_is_not_an_account(sandbox):
    """An SDK's random ClientToken is a UUID, whose last group is all digits about once in 300
    calls: that is no account id, and the launch goes ahead."""
    ec2 = aws_client("ec2", sandbox=sandbox)
    token = "3f2a9c1e-4b7d-4e21-9a0b-" + "9" * 12
    launched = ec2.run_instances(
        ImageId="ami-0453ec754f44f9a4a",
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        ClientToken=token,
    )
    assert launched["Instances"][0]["InstanceId"].startswith("i-")
    with pytest.raises(ec2.exceptions.ClientError, match="UnauthorizedOperation"):
        ec2.create_vpc_peering_connection(VpcId="vpc-1", PeerOwnerId="9" * 12)
