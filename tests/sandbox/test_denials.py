"""Denials as AWS words them, through the gate and the real sandbox server, seen by the real
AWS CLI and boto3: IAM and STS AccessDenied, S3's detailed AccessDenied, EC2's
UnauthorizedOperation with an encoded message that ``aws sts decode-authorization-message``
decodes, in that sandbox only."""

import base64
import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from learnlab.gate.client import aws_client
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.services import role_credentials_mint
from tests.helpers import gate_client, json_out

pytestmark = pytest.mark.django_db(transaction=True)

IMAGE_ID = "ami-0453ec754f44f9a4a"


def _policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def role_session(sandbox, name: str, *statements, session: str = "i-0denied"):
    """A role holding ``statements`` as its inline policy, and temporary credentials for it,
    minted as the metadata service's are (tests/helpers.py ``launch_with_role``)."""
    iam = aws_client("iam", sandbox=sandbox)
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.put_role_policy(
        RoleName=name, PolicyName="permissions", PolicyDocument=_policy(*statements)
    )
    return role_credentials_mint(
        sandbox=sandbox, role_name=name, session_name=session, duration_seconds=3600
    )


def session_client(gate_url, key, service: str):
    return boto3.client(
        service,
        endpoint_url=gate_url,
        region_name="us-east-1",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        aws_session_token=key.session_token,
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
    )


def as_session(aws, key, *args):
    return aws(
        *args, key_id=key.access_key_id, secret=key.secret_access_key, token=key.session_token
    )


def _encoded(message: str) -> str:
    return message.rpartition("Encoded authorization failure message: ")[2].strip()


def test_an_iam_call_no_policy_allows_is_denied_in_aws_words(aws, sandbox):
    """IAM User Guide, "Troubleshoot access denied error messages" (Access denied error
    message examples): "User: <arn> is not authorized to perform: <action> on resource:
    <arn> because no identity-based policy allows the <action> action"."""
    key = role_session(
        sandbox, "reader", {"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}
    )
    result = as_session(aws, key, "iam", "create-user", "--user-name", "dev")
    account = sandbox.account_id
    assert result.returncode != 0, result.stderr
    assert (
        "An error occurred (AccessDenied) when calling the CreateUser operation: "
        f"User: arn:aws:sts::{account}:assumed-role/reader/i-0denied is not authorized to "
        f"perform: iam:CreateUser on resource: arn:aws:iam::{account}:user/dev because no "
        "identity-based policy allows the iam:CreateUser action"
    ) in result.stderr


def test_a_list_operation_names_the_path_root_as_its_resource(aws, sandbox):
    """IAM User Guide, access denied examples: ListRoles is evaluated on ``role/``."""
    key = role_session(sandbox, "reader", {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    result = as_session(aws, key, "iam", "list-roles")
    assert (
        f"perform: iam:ListRoles on resource: arn:aws:iam::{sandbox.account_id}:role/ because "
        "no identity-based policy allows the iam:ListRoles action"
    ) in result.stderr


def test_an_explicit_deny_is_named_as_aws_names_it(aws, sandbox):
    """IAM User Guide, access denied examples: "... with an explicit deny in an
    identity-based policy"; a Deny wins over an Allow of everything (policy evaluation
    logic)."""
    key = role_session(
        sandbox,
        "almost-admin",
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "iam:Delete*", "Resource": "*"},
    )
    iam_role = f"arn:aws:iam::{sandbox.account_id}:role/almost-admin"
    result = as_session(aws, key, "iam", "delete-role", "--role-name", "almost-admin")
    assert (
        "An error occurred (AccessDenied) when calling the DeleteRole operation: User: "
        f"arn:aws:sts::{sandbox.account_id}:assumed-role/almost-admin/i-0denied is not "
        f"authorized to perform: iam:DeleteRole on resource: {iam_role} with an explicit deny "
        "in an identity-based policy"
    ) in result.stderr
    # The Allow still holds for everything the Deny does not name.
    assert json_out(as_session(aws, key, "iam", "get-role", "--role-name", "almost-admin"))


def test_not_action_and_not_resource_are_evaluated(aws, sandbox):
    """IAM JSON policy elements NotAction and NotResource (IAM User Guide): an Allow of
    everything but IAM, and a Deny of every bucket but one."""
    key = role_session(
        sandbox,
        "no-iam",
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::open-bucket*"},
    )
    s3 = aws_client("s3", sandbox=sandbox)
    for bucket in ("open-bucket", "shut-bucket"):
        s3.create_bucket(Bucket=bucket)
    assert "iam:ListUsers" in as_session(aws, key, "iam", "list-users").stderr
    assert (
        as_session(aws, key, "s3api", "list-objects-v2", "--bucket", "open-bucket").returncode == 0
    )
    shut = as_session(aws, key, "s3api", "list-objects-v2", "--bucket", "shut-bucket")
    assert "with an explicit deny in an identity-based policy" in shut.stderr


def test_an_s3_denial_carries_aws_detail_for_the_owners_account(gate_url, sandbox):
    """Amazon S3 User Guide, "Troubleshoot access denied (403 Forbidden) errors": since 2024
    S3 adds the policy type and reason for requests from the bucket owner's account, resource
    in quotes; no longer a bare "Access Denied"."""
    gate_client(gate_url, sandbox, "s3").create_bucket(Bucket="lab-notes")
    key = role_session(
        sandbox, "lister", {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}
    )
    s3 = session_client(gate_url, key, "s3")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["lab-notes"]
    with pytest.raises(ClientError) as denied:
        s3.get_object(Bucket="lab-notes", Key="plan.txt")
    error = denied.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Error"]["Code"] == "AccessDenied"
    assert error["Error"]["Message"] == (
        f"User: arn:aws:sts::{sandbox.account_id}:assumed-role/lister/i-0denied is not "
        'authorized to perform: s3:GetObject on resource: "arn:aws:s3:::lab-notes/plan.txt" '
        "because no identity-based policy allows the s3:GetObject action"
    )


def test_an_sts_denial_is_worded_as_aws_words_it(aws, sandbox):
    """STS API reference, DecodeAuthorizationMessage: the caller needs
    sts:DecodeAuthorizationMessage; without it, IAM's denial (no resource: it applies to
    ``*``)."""
    key = role_session(sandbox, "reader", {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    result = as_session(aws, key, "sts", "decode-authorization-message", "--encoded-message", "x")
    assert (
        "An error occurred (AccessDenied) when calling the DecodeAuthorizationMessage "
        f"operation: User: arn:aws:sts::{sandbox.account_id}:assumed-role/reader/i-0denied is "
        "not authorized to perform: sts:DecodeAuthorizationMessage because no identity-based "
        "policy allows the sts:DecodeAuthorizationMessage action"
    ) in result.stderr


@pytest.fixture
def ec2_denial(gate_url, sandbox):
    """A RunInstances that the caller's policies do not allow, as boto3 sees it."""
    key = role_session(
        sandbox, "describer", {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}
    )
    with pytest.raises(ClientError) as denied:
        session_client(gate_url, key, "ec2").run_instances(
            ImageId=IMAGE_ID, InstanceType="t3.micro", MinCount=1, MaxCount=1
        )
    return denied.value.response


def test_ec2_answers_unauthorized_operation_with_an_encoded_message(ec2_denial, sandbox):
    """EC2 API reference, "Error codes": UnauthorizedOperation (403), "You are not authorized
    to perform this operation." followed, as EC2 answers today (real output in
    aws/karpenter-provider-aws#7370), by the denial sentence and "Encoded authorization
    failure message: ..."."""
    account = sandbox.account_id
    assert ec2_denial["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert ec2_denial["Error"]["Code"] == "UnauthorizedOperation"
    message = ec2_denial["Error"]["Message"]
    assert message.startswith(
        "You are not authorized to perform this operation. User: "
        f"arn:aws:sts::{account}:assumed-role/describer/i-0denied is not authorized to perform: "
        f"ec2:RunInstances on resource: arn:aws:ec2:us-east-1:{account}:instance/* because no "
        "identity-based policy allows the ec2:RunInstances action. Encoded authorization "
        "failure message: "
    )
    encoded = _encoded(message)
    assert len(encoded) > 100 and set(encoded) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    # Opaque: not the JSON in base64 (AWS encrypts it; its details may be privileged).
    raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    assert b"RunInstances" not in raw and b"allowed" not in raw


def test_the_cli_decodes_the_message_into_aws_fields_for_that_call(aws, sandbox, ec2_denial):
    """STS API reference, DecodeAuthorizationMessage, and the decoded layout real output
    shows (vmware-archive/terraforming-aws#73, aws/aws-sdk-go#1536): allowed, explicitDeny,
    matchedStatements, failures, context with principal {id, arn}, action, resource,
    conditions."""
    account = sandbox.account_id
    encoded = _encoded(ec2_denial["Error"]["Message"])
    result = json_out(
        aws("sts", "decode-authorization-message", "--encoded-message", encoded, sandbox=sandbox)
    )
    decoded = json.loads(result["DecodedMessage"])
    assert decoded["allowed"] is False
    assert decoded["explicitDeny"] is False
    assert decoded["matchedStatements"] == {"items": []}
    assert decoded["failures"] == {"items": []}
    context = decoded["context"]
    assert context["action"] == "ec2:RunInstances"
    assert context["resource"] == f"arn:aws:ec2:us-east-1:{account}:instance/*"
    assert context["principal"]["arn"] == f"arn:aws:sts::{account}:assumed-role/describer/i-0denied"
    role_id = aws_client("iam", sandbox=sandbox).get_role(RoleName="describer")["Role"]["RoleId"]
    assert context["principal"]["id"] == f"{role_id}:i-0denied"
    conditions = {
        c["key"]: c["values"]["items"][0]["value"] for c in context["conditions"]["items"]
    }
    assert conditions["aws:Region"] == "us-east-1"
    assert conditions["ec2:InstanceType"] == "t3.micro"


def test_an_explicit_deny_is_decoded_with_its_statement(aws, gate_url, sandbox):
    """STS DecodeAuthorizationMessage: explicitDeny true, and the statement that denied."""
    key = role_session(
        sandbox,
        "no-launch",
        {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"},
        {"Sid": "NoLaunches", "Effect": "Deny", "Action": "ec2:RunInstances", "Resource": "*"},
    )
    with pytest.raises(ClientError) as denied:
        session_client(gate_url, key, "ec2").run_instances(
            ImageId=IMAGE_ID, InstanceType="t3.micro", MinCount=1, MaxCount=1
        )
    message = denied.value.response["Error"]["Message"]
    assert "ec2:RunInstances on resource: " in message
    assert "with an explicit deny in an identity-based policy. Encoded authorization" in message
    decoded = json.loads(
        json_out(
            aws(
                "sts",
                "decode-authorization-message",
                "--encoded-message",
                _encoded(message),
                sandbox=sandbox,
            )
        )["DecodedMessage"]
    )
    assert decoded["explicitDeny"] is True
    [statement] = decoded["matchedStatements"]["items"]
    assert statement["statementId"] == "NoLaunches"
    assert statement["effect"] == "DENY"
    assert statement["actions"] == {"items": [{"value": "ec2:RunInstances"}]}


def test_another_sandbox_cannot_decode_the_message(aws, make_sandbox, sandbox, ec2_denial):
    """STS DecodeAuthorizationMessage errors: InvalidAuthorizationMessageException (400) for
    a message this account was not given; altered messages likewise."""
    encoded = _encoded(ec2_denial["Error"]["Message"])
    other = make_sandbox()
    result = aws("sts", "decode-authorization-message", "--encoded-message", encoded, sandbox=other)
    assert result.returncode != 0
    assert (
        "An error occurred (InvalidAuthorizationMessageException) when calling the "
        "DecodeAuthorizationMessage operation: "
    ) in result.stderr
    assert "ec2:RunInstances" not in result.stderr + result.stdout
    flipped = encoded[:40] + ("A" if encoded[40] != "A" else "B") + encoded[41:]
    for bad in (flipped, encoded[:-10], "not a message", "=" * 20000):
        tampered = aws(
            "sts", "decode-authorization-message", "--encoded-message", bad, sandbox=sandbox
        )
        assert "(InvalidAuthorizationMessageException)" in tampered.stderr, bad[:50]


def test_the_lab_user_keeps_full_rights(aws, gate_url, sandbox):
    """The lab user's "Action": "*" policy still allows IAM, EC2 and S3 calls."""
    assert json_out(aws("iam", "create-user", "--user-name", "dev", sandbox=sandbox))
    ec2 = gate_client(gate_url, sandbox, "ec2")
    reservation = ec2.run_instances(
        ImageId=IMAGE_ID, InstanceType="t3.micro", MinCount=1, MaxCount=1
    )
    assert reservation["Instances"][0]["InstanceId"].startswith("i-")
    gate_client(gate_url, sandbox, "s3").create_bucket(Bucket="mine")
