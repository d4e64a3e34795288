"""Per-sandbox quotas (learnlab/sandbox/quotas.py): AWS's limits, codes and wording, as the real
AWS CLI prints them through the gate. Where a test needs a sandbox filled to a count quota, it
fills it straight at the sandbox server (as the gate would forward, past the gate's rate limit)
and makes only the refused call through the gate."""

import json
import time

import boto3
import pytest
from botocore.config import Config

from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox import connection
from tests.helpers import json_out

pytestmark = pytest.mark.django_db(transaction=True)

AMI = "ami-0453ec754f44f9a4a"


def _policy(size: int) -> str:
    """A valid policy document of about ``size`` characters, none of them white space."""
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::"}],
    }
    padding = size - len(json.dumps(document, separators=(",", ":")))
    document["Statement"][0]["Resource"] += "x" * max(padding, 0)
    return json.dumps(document, separators=(",", ":"))


@pytest.fixture
def direct(sandbox_server, sandbox):
    """botocore straight at the sandbox server in ``sandbox``'s account, as the gate forwards."""
    key = sandbox.lab_key()

    def client(service):
        made = boto3.client(
            service,
            endpoint_url=sandbox_server["url"],
            region_name="us-east-1",
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )

        def vouch(request, **_):
            request.headers["x-moto-account-id"] = sandbox.account_id
            request.headers[connection.SECRET_HEADER] = sandbox_server["secret"]

        made.meta.events.register("before-send", vouch)
        return made

    return client


def _refused(result, code: str) -> str:
    assert result.returncode != 0, result.stdout
    assert f"An error occurred ({code})" in result.stderr, result.stderr
    return result.stderr


# EC2


def test_run_instances_count_3000_is_refused_at_once(aws, sandbox):
    started = time.monotonic()
    result = aws("ec2", "run-instances", "--image-id", AMI, "--count", "3000", sandbox=sandbox)
    elapsed = time.monotonic() - started
    stderr = _refused(result, "InstanceLimitExceeded")
    assert "You have requested more instances (3000) than your current instance limit of 10" in (
        stderr
    )
    assert elapsed < 10
    listed = json_out(aws("ec2", "describe-instances", sandbox=sandbox))
    assert listed["Reservations"] == []


def test_the_eleventh_instance_is_refused_until_one_is_terminated(aws, sandbox):
    launched = json_out(
        aws("ec2", "run-instances", "--image-id", AMI, "--count", "10", sandbox=sandbox)
    )
    stderr = _refused(
        aws("ec2", "run-instances", "--image-id", AMI, sandbox=sandbox), "InstanceLimitExceeded"
    )
    assert "requested more instances (11) than your current instance limit of 10" in stderr
    first = launched["Instances"][0]["InstanceId"]
    aws("ec2", "terminate-instances", "--instance-ids", first, sandbox=sandbox, check=True)
    aws("ec2", "run-instances", "--image-id", AMI, sandbox=sandbox, check=True)


def test_a_sixth_vpc_is_refused(aws, sandbox, direct):
    ec2 = direct("ec2")
    for number in range(4):  # the default VPC is the fifth
        ec2.create_vpc(CidrBlock=f"10.{number}.0.0/16")
    stderr = _refused(
        aws("ec2", "create-vpc", "--cidr-block", "10.9.0.0/16", sandbox=sandbox),
        "VpcLimitExceeded",
    )
    assert "The maximum number of VPCs has been reached." in stderr


def test_a_sixth_elastic_ip_is_refused(aws, sandbox, direct):
    ec2 = direct("ec2")
    for _ in range(5):
        ec2.allocate_address(Domain="vpc")
    stderr = _refused(aws("ec2", "allocate-address", sandbox=sandbox), "AddressLimitExceeded")
    assert "The maximum number of addresses has been reached." in stderr


def test_security_groups_past_the_lab_limit_are_refused_saying_so(aws, sandbox, direct):
    ec2 = direct("ec2")
    for number in range(99):  # the default VPC's default group is the hundredth
        ec2.create_security_group(GroupName=f"sg{number}", Description="lab")
    stderr = _refused(
        aws(
            *["ec2", "create-security-group", "--group-name", "one-more"],
            *["--description", "lab"],
            sandbox=sandbox,
        ),
        "SecurityGroupLimitExceeded",
    )
    assert "A LearnLab sandbox holds at most 100 (a lab limit)" in stderr


# IAM


def test_a_200_kib_inline_role_policy_is_refused(aws, sandbox, tmp_path):
    aws(
        "iam",
        "create-role",
        "--role-name",
        "app",
        "--assume-role-policy-document",
        EC2_TRUST_POLICY,
        sandbox=sandbox,
        check=True,
    )
    document = tmp_path / "big.json"
    document.write_text(_policy(200 * 1024))  # under the gate's 256 KiB body cap
    started = time.monotonic()
    stderr = _refused(
        aws(
            "iam",
            "put-role-policy",
            "--role-name",
            "app",
            "--policy-name",
            "big",
            "--policy-document",
            f"file://{document}",
            sandbox=sandbox,
        ),
        "LimitExceeded",
    )
    assert "Maximum policy size of 10240 bytes exceeded for role app" in stderr
    assert time.monotonic() - started < 10
    listed = json_out(aws("iam", "list-role-policies", "--role-name", "app", sandbox=sandbox))
    assert listed["PolicyNames"] == []


def test_a_roles_inline_policies_share_one_10240_total(direct):
    iam = direct("iam")
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.put_role_policy(RoleName="app", PolicyName="one", PolicyDocument=_policy(6000))
    iam.put_role_policy(RoleName="app", PolicyName="one", PolicyDocument=_policy(7000))  # replaces
    with pytest.raises(iam.exceptions.LimitExceededException) as refused:
        iam.put_role_policy(RoleName="app", PolicyName="two", PolicyDocument=_policy(4000))
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    # White space does not count, as in AWS.
    spaced = json.dumps(json.loads(_policy(3000)), indent=40)
    assert len(spaced) > 3300
    iam.put_role_policy(RoleName="app", PolicyName="two", PolicyDocument=spaced)


def test_a_user_inline_policy_over_2048_is_refused(aws, sandbox, tmp_path):
    document = tmp_path / "user.json"
    document.write_text(_policy(2100))
    stderr = _refused(
        aws(
            "iam",
            "put-user-policy",
            "--user-name",
            "learnlab",
            "--policy-name",
            "more",
            "--policy-document",
            f"file://{document}",
            sandbox=sandbox,
        ),
        "LimitExceeded",
    )
    assert "Maximum policy size of 2048 bytes exceeded for user learnlab" in stderr


def test_a_managed_policy_over_6144_is_refused(aws, sandbox, tmp_path):
    document = tmp_path / "managed.json"
    document.write_text(_policy(6200))
    stderr = _refused(
        aws(
            "iam",
            "create-policy",
            "--policy-name",
            "big",
            "--policy-document",
            f"file://{document}",
            sandbox=sandbox,
        ),
        "LimitExceeded",
    )
    assert "Cannot exceed quota for PolicySize: 6144" in stderr


def test_a_trust_policy_over_2048_is_refused(aws, sandbox):
    trust = json.loads(EC2_TRUST_POLICY)
    trust["Statement"][0]["Sid"] = "x" * 2100
    stderr = _refused(
        aws(
            "iam",
            "create-role",
            "--role-name",
            "app",
            "--assume-role-policy-document",
            json.dumps(trust),
            sandbox=sandbox,
        ),
        "LimitExceeded",
    )
    assert "Cannot exceed quota for ACLSizePerRole: 2048" in stderr


@pytest.mark.parametrize(
    ("args", "parameter", "limit"),
    [
        (
            ("create-role", "--assume-role-policy-document", EC2_TRUST_POLICY, "--role-name"),
            "roleName",
            64,
        ),
        (("create-instance-profile", "--instance-profile-name"), "instanceProfileName", 128),
        (("create-policy", "--policy-document", _policy(200), "--policy-name"), "policyName", 128),
    ],
)
def test_names_longer_than_aws_allows_are_refused(aws, sandbox, args, parameter, limit):
    name = "n" * (limit + 1)
    stderr = _refused(aws("iam", *args, name, sandbox=sandbox), "ValidationError")
    assert (
        f"1 validation error detected: Value '{name}' at '{parameter}' failed to satisfy "
        f"constraint: Member must have length less than or equal to {limit}"
    ) in stderr
    aws("iam", *args, "n" * limit, sandbox=sandbox, check=True)


def test_an_eleventh_policy_attached_to_a_role_is_refused(aws, sandbox, direct):
    iam = direct("iam")
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    arns = [
        iam.create_policy(PolicyName=f"p{n}", PolicyDocument=_policy(200))["Policy"]["Arn"]
        for n in range(11)
    ]
    for arn in arns[:10]:
        iam.attach_role_policy(RoleName="app", PolicyArn=arn)
    iam.attach_role_policy(RoleName="app", PolicyArn=arns[0])  # attached already: no change
    stderr = _refused(
        aws(
            "iam",
            "attach-role-policy",
            "--role-name",
            "app",
            "--policy-arn",
            arns[10],
            sandbox=sandbox,
        ),
        "LimitExceeded",
    )
    assert "Cannot exceed quota for PoliciesPerRole: 10" in stderr


def test_roles_past_the_lab_limit_are_refused_saying_so(aws, sandbox, direct):
    iam = direct("iam")
    for number in range(100):
        iam.create_role(RoleName=f"r{number}", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    stderr = _refused(
        aws(
            "iam",
            "create-role",
            "--role-name",
            "one-more",
            "--assume-role-policy-document",
            EC2_TRUST_POLICY,
            sandbox=sandbox,
        ),
        "LimitExceeded",
    )
    assert "Cannot exceed quota for RolesPerAccount: 100 (a LearnLab sandbox's limit" in stderr
    assert "AWS's default is 1,000" in stderr


def test_an_eleventh_group_for_one_user_is_refused(aws, sandbox, direct):
    iam = direct("iam")
    for number in range(11):
        iam.create_group(GroupName=f"g{number}")
    for number in range(10):
        iam.add_user_to_group(GroupName=f"g{number}", UserName="learnlab")
    iam.add_user_to_group(GroupName="g0", UserName="learnlab")  # a member already: no change
    stderr = _refused(
        aws(
            *["iam", "add-user-to-group", "--group-name", "g10", "--user-name", "learnlab"],
            sandbox=sandbox,
        ),
        "LimitExceeded",
    )
    assert "Cannot exceed quota for GroupsPerUser: 10" in stderr


# S3


def test_a_101st_bucket_is_too_many(aws, sandbox, direct):
    s3 = direct("s3")
    for number in range(100):
        s3.create_bucket(Bucket=f"b{number:03d}-{sandbox.account_id}")
    stderr = _refused(
        aws("s3api", "create-bucket", "--bucket", f"last-{sandbox.account_id}", sandbox=sandbox),
        "TooManyBuckets",
    )
    assert "You have attempted to create more buckets than allowed" in stderr


def test_s3_past_20_mib_is_entity_too_large(aws, sandbox, direct, tmp_path):
    s3, bucket = direct("s3"), f"data-{sandbox.account_id}"
    s3.create_bucket(Bucket=bucket)
    chunk = b"x" * (5 * 1024 * 1024)
    for number in range(4):
        s3.put_object(Bucket=bucket, Key=f"part{number}", Body=chunk)
    s3.put_object(Bucket=bucket, Key="part0", Body=chunk)  # an overwrite adds nothing
    small = tmp_path / "small.txt"
    small.write_bytes(b"one byte too many")
    stderr = _refused(
        aws(
            "s3api",
            "put-object",
            "--bucket",
            bucket,
            "--key",
            "more",
            "--body",
            str(small),
            sandbox=sandbox,
        ),
        "EntityTooLarge",
    )
    assert "A LearnLab sandbox stores at most 20 MiB in S3" in stderr
    s3.delete_object(Bucket=bucket, Key="part3")
    aws(
        "s3api",
        "put-object",
        "--bucket",
        bucket,
        "--key",
        "more",
        "--body",
        str(small),
        sandbox=sandbox,
        check=True,
    )
