"""The gate's rules where moto is lax (learnlab/gate/fidelity.py, learnlab/lib/aws_errors.py):
identity policies with a principal, IAM names and paths, EC2's malformed ids, and expired
credentials as each service answers them. Through the real AWS CLI and boto3 over HTTP."""

import json
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from django.utils import timezone

from learnlab.gate.client import aws_client
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.services import role_credentials_mint
from tests.helpers import gate_client

pytestmark = pytest.mark.django_db(transaction=True)

AMI = "ami-0453ec754f44f9a4a"
WITH_PRINCIPAL = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "s3:GetObject",
                "Resource": "*",
            }
        ],
    }
)
NO_PRINCIPAL = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
)
ROLE_NAME_INVALID = (
    "The specified value for roleName is invalid. It must contain only alphanumeric "
    "characters and/or the following: +=,.@_-"
)


def _error(call, *args, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as raised:
        call(*args, **kwargs)
    error = raised.value.response
    return (
        error["Error"]["Code"],
        error["Error"]["Message"],
        error["ResponseMetadata"]["HTTPStatusCode"],
    )


def test_an_identity_policy_with_a_principal_is_refused_as_iam_refuses_it(aws, gate_url, sandbox):
    """IAM refuses a Principal in an identity policy: MalformedPolicyDocument "Policy document
    should not specify a principal." (real PutRolePolicy output in hashicorp/terraform#13449
    and hashicorp/terraform-provider-aws#10419; IAM User Guide, "AWS JSON policy elements:
    Principal": "You cannot use the Principal element in an identity-based policy")."""
    iam = gate_client(gate_url, sandbox, "iam")
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    result = aws(
        "iam", "put-role-policy", "--role-name", "app", "--policy-name", "read",
        "--policy-document", WITH_PRINCIPAL, sandbox=sandbox,
    )  # fmt: skip
    assert result.returncode != 0, result.stderr
    assert (
        "An error occurred (MalformedPolicyDocument) when calling the PutRolePolicy operation: "
        "Policy document should not specify a principal." in result.stderr
    )
    refused = (
        "MalformedPolicyDocument",
        "Policy document should not specify a principal.",
        400,
    )
    assert (
        _error(
            iam.put_user_policy,
            UserName="learnlab",
            PolicyName="read",
            PolicyDocument=WITH_PRINCIPAL,
        )
        == refused
    )
    assert _error(iam.create_policy, PolicyName="read", PolicyDocument=WITH_PRINCIPAL) == refused
    arn = iam.create_policy(PolicyName="read", PolicyDocument=NO_PRINCIPAL)["Policy"]["Arn"]
    assert (
        _error(iam.create_policy_version, PolicyArn=arn, PolicyDocument=WITH_PRINCIPAL) == refused
    )
    # Nothing was stored, and the same policy without its principal is fine.
    assert iam.list_role_policies(RoleName="app")["PolicyNames"] == []
    iam.put_role_policy(RoleName="app", PolicyName="read", PolicyDocument=NO_PRINCIPAL)


def test_role_names_are_validated_as_iam_validates_them(aws, gate_url, sandbox):
    """IAM's API model (botocore's iam/2010-05-08/service-2.json, roleNameType: pattern
    [\\w+=,.@-]+, 1 to 64 characters), worded as IAM words it: "The specified value for
    roleName is invalid. It must contain only alphanumeric characters and/or the following:
    +=,.@_-" (real output in kubecost/docs#36 and shashankprasanna/torchserve-examples#7) and
    "1 validation error detected: Value '...' at 'roleName' failed to satisfy constraint:
    Member must have length less than or equal to 64" (faizanbashir/
    python-ses-dynamodb-contactform#4)."""
    result = aws(
        "iam", "create-role", "--role-name", "<b>x</b>",
        "--assume-role-policy-document", EC2_TRUST_POLICY, sandbox=sandbox,
    )  # fmt: skip
    assert result.returncode != 0, result.stderr
    assert (
        f"An error occurred (ValidationError) when calling the CreateRole operation: "
        f"{ROLE_NAME_INVALID}" in result.stderr
    )
    iam = gate_client(gate_url, sandbox, "iam")
    assert _error(iam.create_role, RoleName="rôle", AssumeRolePolicyDocument=EC2_TRUST_POLICY) == (
        "ValidationError",
        ROLE_NAME_INVALID,
        400,
    )
    long_name = "r" * 80
    assert _error(
        iam.create_role, RoleName=long_name, AssumeRolePolicyDocument=EC2_TRUST_POLICY
    ) == (
        "ValidationError",
        f"1 validation error detected: Value '{long_name}' at 'roleName' failed to satisfy "
        "constraint: Member must have length less than or equal to 64",
        400,
    )
    # A role's ARN where its name belongs: the learner's usual slip.
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    role_arn = f"arn:aws:iam::{sandbox.account_id}:role/app"
    assert _error(
        iam.attach_role_policy,
        RoleName=role_arn,
        PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
    ) == ("ValidationError", ROLE_NAME_INVALID, 400)
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["app"]


def test_other_names_and_paths_are_validated_too(gate_url, sandbox):
    """The same model for users (userNameType, 64), instance profiles
    (instanceProfileNameType, 128) and paths (pathType "(\\u002F)|(\\u002F[\\u0021-\\u007E]+
    \\u002F)"): "The specified value for userName is invalid. ..." (app-sre/
    qontract-reconcile#2640) and "The specified value for path is invalid. It must begin and
    end with / and contain only alphanumeric characters and/or / characters."
    (aws-cloudformation/cfn-lint#722, serverless/serverless#3802)."""
    iam = gate_client(gate_url, sandbox, "iam")
    assert _error(iam.create_user, UserName="ann smith") == (
        "ValidationError",
        "The specified value for userName is invalid. It must contain only alphanumeric "
        "characters and/or the following: +=,.@_-",
        400,
    )
    assert _error(iam.create_instance_profile, InstanceProfileName="web/app")[0] == (
        "ValidationError"
    )
    assert _error(
        iam.create_role,
        RoleName="app",
        Path="test/",
        AssumeRolePolicyDocument=EC2_TRUST_POLICY,
    ) == (
        "ValidationError",
        "The specified value for path is invalid. It must begin and end with / and contain "
        "only alphanumeric characters and/or / characters.",
        400,
    )
    # Names IAM allows pass: every allowed character, and a path.
    made = iam.create_role(
        RoleName="a+b=c,d.e@f_g-h",
        Path="/lab/",
        AssumeRolePolicyDocument=EC2_TRUST_POLICY,
    )
    assert made["Role"]["Arn"].endswith(":role/lab/a+b=c,d.e@f_g-h")


def test_malformed_instance_ids_are_malformed_and_unknown_ones_not_found(aws, gate_url, sandbox):
    """EC2: an id not shaped as EC2's are is InvalidInstanceID.Malformed 'Invalid id: "x"'
    (real output in ClusterLabs/cluster-glue#29: StopInstances and DescribeInstances); a
    well-formed unknown one stays InvalidInstanceID.NotFound "The instance ID '...' does not
    exist" (EC2 API reference, "Error codes for the Amazon EC2 API")."""
    result = aws("ec2", "describe-instances", "--instance-ids", "i-zzz", sandbox=sandbox)
    assert result.returncode != 0, result.stderr
    assert (
        "An error occurred (InvalidInstanceID.Malformed) when calling the DescribeInstances "
        'operation: Invalid id: "i-zzz"' in result.stderr
    )
    ec2 = gate_client(gate_url, sandbox, "ec2")
    assert _error(ec2.start_instances, InstanceIds=["instance-1"]) == (
        "InvalidInstanceID.Malformed",
        'Invalid id: "instance-1"',
        400,
    )
    unknown = "i-0123456789abcdef0"
    code, message, status = _error(ec2.stop_instances, InstanceIds=[unknown])
    assert (code, status) == ("InvalidInstanceID.NotFound", 400)
    assert unknown in message


def test_malformed_image_ids_are_malformed(gate_url, sandbox):
    """EC2: InvalidAMIID.Malformed, 'Invalid id: "{var.ami_id}" (expecting "ami-...")' when the
    prefix is missing (hashicorp/terraform#22172, RunInstances), 'Invalid id:
    "ami-0ebf472962bc6715"' when the digits are wrong (boto/boto3#1505)."""
    ec2 = gate_client(gate_url, sandbox, "ec2")
    launch = {"InstanceType": "t3.micro", "MinCount": 1, "MaxCount": 1}
    assert _error(ec2.run_instances, ImageId="ubuntu", **launch) == (
        "InvalidAMIID.Malformed",
        'Invalid id: "ubuntu" (expecting "ami-...")',
        400,
    )
    assert _error(ec2.run_instances, ImageId="ami-zzz", **launch) == (
        "InvalidAMIID.Malformed",
        'Invalid id: "ami-zzz"',
        400,
    )
    assert ec2.describe_instances()["Reservations"] == []


@pytest.fixture
def expired(sandbox):
    """Temporary credentials of a role ``app`` whose expiry has passed."""
    aws_client("iam", sandbox=sandbox).create_role(
        RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    key = role_credentials_mint(
        sandbox=sandbox, role_name="app", session_name="i-0abc", duration_seconds=3600
    )
    key.expires_at = timezone.now() - timedelta(seconds=1)
    key.save()
    return {
        "key_id": key.access_key_id,
        "secret": key.secret_access_key,
        "token": key.session_token,
    }


def test_expired_credentials_at_ec2_are_a_request_expired(aws, expired):
    """EC2 answers expired temporary credentials with RequestExpired "Request has expired."
    (HTTP 400), not STS's ExpiredToken: instance-role credentials in aws/aws-sdk-ruby#143,
    "Status Code: 400; Error Code: RequestExpired" in aws/aws-sdk-java#1443, "An error occurred
    (RequestExpired) when calling the DescribeInstances operation: Request has expired." in
    hellofresh/eks-rolling-update#103."""
    result = aws("ec2", "describe-instances", **expired)
    assert result.returncode != 0, result.stderr
    assert (
        "An error occurred (RequestExpired) when calling the DescribeInstances operation: "
        "Request has expired." in result.stderr
    )


def test_expired_credentials_at_s3_iam_and_sts_keep_their_words(gate_url, expired):
    """S3: ExpiredToken "The provided token has expired." with HTTP 400 (S3's raw answer in
    romange/helio#15); IAM and STS: ExpiredToken "The security token included in the request
    is expired", HTTP 403 (jenkinsci/ec2-plugin#1008)."""
    import boto3
    from botocore.config import Config

    def client(service):
        return boto3.client(
            service,
            endpoint_url=gate_url,
            region_name="us-east-1",
            aws_access_key_id=expired["key_id"],
            aws_secret_access_key=expired["secret"],
            aws_session_token=expired["token"],
            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )

    assert _error(client("s3").list_buckets) == (
        "ExpiredToken",
        "The provided token has expired.",
        400,
    )
    sts_words = ("ExpiredToken", "The security token included in the request is expired", 403)
    assert _error(client("iam").list_roles) == sts_words
    assert _error(client("sts").get_caller_identity) == sts_words
