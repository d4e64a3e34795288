"""Why was it denied: the trace kept for each denial the gate returns (issue 19), through the
real gate and sandbox server, for each cause: no statement, a wrong action pattern, a wrong
resource, an explicit deny, a condition, a trust policy naming another service. The verdicts
follow the IAM User Guide's "Policy evaluation logic" and "Access denied error message
examples" pages."""

import json

import pytest
from botocore.exceptions import ClientError

from learnlab.denials.models import Denial
from learnlab.gate.client import aws_client
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.services import role_credentials_mint

pytestmark = pytest.mark.django_db(transaction=True)


def _policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def session(sandbox, name, *statements, trust=EC2_TRUST_POLICY):
    iam = aws_client("iam", sandbox=sandbox)
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="perms", PolicyDocument=_policy(*statements))
    return role_credentials_mint(
        sandbox=sandbox, role_name=name, session_name="i-0trace", duration_seconds=3600
    )


def denied(call, *args, **kwargs) -> str:
    with pytest.raises(ClientError) as raised:
        call(*args, **kwargs)
    return raised.value.response["Error"]["Code"]


def latest(sandbox) -> Denial:
    return Denial.objects.filter(sandbox=sandbox).order_by("-created_at", "-id").first()


def statements(trace) -> list[dict]:
    return [s for p in trace["policies"] for s in p["statements"]]


def test_no_statement_at_all(sandbox):
    key = session(sandbox, "empty")
    assert denied(aws_client("iam", sandbox=sandbox, key=key).list_roles) == "AccessDenied"
    trace = latest(sandbox).trace
    assert trace["action"] == "iam:ListRoles"
    assert trace["resource"] == f"arn:aws:iam::{sandbox.account_id}:role/"
    assert trace["principal"]["arn"].endswith(":assumed-role/empty/i-0trace")
    assert trace["policies"] == []
    assert trace["verdict"]["kind"] == "no-allow"
    assert trace["context"]["aws:PrincipalType"] == ["AssumedRole"]


def test_wrong_action_pattern(sandbox):
    key = session(sandbox, "typo", {"Effect": "Allow", "Action": "iam:ListRole", "Resource": "*"})
    assert denied(aws_client("iam", sandbox=sandbox, key=key).list_roles) == "AccessDenied"
    trace = latest(sandbox).trace
    (only,) = statements(trace)
    assert only["action"]["matched"] is False
    assert "does not cover iam:ListRoles" in only["action"]["why"]
    assert only["resource"]["matched"] is True
    # The dataset says the pattern names no action, and suggests the real one.
    assert any("did you mean iam:ListRoles" in n for n in only["notes"])
    assert trace["policies"][0]["kind"] == "inline policy of the role"
    assert trace["verdict"]["kind"] == "no-allow"


def test_wrong_resource(sandbox):
    other = f"arn:aws:iam::{sandbox.account_id}:role/other"
    key = session(
        sandbox, "narrow", {"Effect": "Allow", "Action": "iam:GetRole", "Resource": other}
    )
    iam = aws_client("iam", sandbox=sandbox, key=key)
    assert denied(iam.get_role, RoleName="narrow") == "AccessDenied"
    trace = latest(sandbox).trace
    (only,) = statements(trace)
    assert only["action"]["matched"] is True
    assert only["resource"]["matched"] is False
    assert trace["resource"] == f"arn:aws:iam::{sandbox.account_id}:role/narrow"
    assert trace["resource_type"] == "role"


def test_explicit_deny(sandbox):
    key = session(
        sandbox,
        "denied",
        {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"},
        {"Sid": "NoLook", "Effect": "Deny", "Action": "ec2:Describe*", "Resource": "*"},
    )
    ec2 = aws_client("ec2", sandbox=sandbox, key=key)
    assert denied(ec2.describe_instances) == "UnauthorizedOperation"
    denial = latest(sandbox)
    assert denial.code == "UnauthorizedOperation"
    allow, deny = statements(denial.trace)
    assert allow["applies"] and allow["effect"] == "Allow"
    assert deny["applies"] and deny["sid"] == "NoLook"
    assert denial.trace["verdict"]["kind"] == "explicit-deny"


def test_condition_that_does_not_hold(sandbox):
    key = session(
        sandbox,
        "regional",
        {
            "Effect": "Allow",
            "Action": "ec2:DescribeInstances",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
        },
    )
    ec2 = aws_client("ec2", sandbox=sandbox, key=key)
    assert denied(ec2.describe_instances) == "UnauthorizedOperation"
    trace = latest(sandbox).trace
    (only,) = statements(trace)
    assert only["matched"] and not only["applies"]
    (check,) = only["condition"]["checks"]
    assert check["key"] == "aws:RequestedRegion"
    assert check["request"] == ["us-east-1"] and check["values"] == ["eu-west-1"]
    assert check["held"] is False
    assert trace["verdict"]["kind"] == "no-allow"


def test_trust_policy_naming_another_service(sandbox):
    lambda_trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    iam = aws_client("iam", sandbox=sandbox)
    arn = iam.create_role(RoleName="forlambda", AssumeRolePolicyDocument=lambda_trust)["Role"][
        "Arn"
    ]
    sts = aws_client("sts", sandbox=sandbox)
    assert denied(sts.assume_role, RoleArn=arn, RoleSessionName="me") == "AccessDenied"
    trace = latest(sandbox).trace
    assert trace["action"] == "sts:AssumeRole" and trace["resource"] == arn
    assert trace["verdict"]["kind"] == "trust"
    (only,) = trace["trust"]["statements"]
    assert only["action_matched"] is True
    assert only["principal_matched"] is False
    assert "lambda.amazonaws.com" in only["why"]
    assert trace["trust"]["verdict"] == "no allow"


def test_the_learner_never_sees_the_trace_header(sandbox, gate_url):
    from tests.helpers import gate_client

    key = session(sandbox, "nothing")
    import boto3
    from botocore.config import Config

    iam = boto3.client(
        "iam",
        endpoint_url=gate_url,
        region_name="us-east-1",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        aws_session_token=key.session_token,
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as raised:
        iam.list_roles()
    headers = raised.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert not any(name.lower() == "x-learnlab-trace" for name in headers)
    assert latest(sandbox).in_process is False
    assert gate_client  # the same gate as the suite's own clients


def test_a_sandbox_keeps_its_latest_denials_only(sandbox):
    key = session(sandbox, "many")
    iam = aws_client("iam", sandbox=sandbox, key=key)
    for _ in range(Denial.KEEP + 3):
        denied(iam.list_users)
    assert Denial.objects.filter(sandbox=sandbox).count() == Denial.KEEP


def test_a_request_naming_another_account_is_traced_as_isolation(sandbox):
    iam = aws_client("iam", sandbox=sandbox)
    other = "arn:aws:iam::123456789012:policy/Theirs"
    with pytest.raises(ClientError):
        iam.attach_role_policy(RoleName="nope", PolicyArn=other)
    denial = latest(sandbox)
    assert denial.code == "AccessDenied"
    assert denial.trace["verdict"]["kind"] == "isolation"
    assert "123456789012" not in json.dumps(denial.trace)  # never names the other account


def test_a_permissions_boundary_that_does_not_allow(sandbox):
    iam = aws_client("iam", sandbox=sandbox)
    boundary = iam.create_policy(
        PolicyName="only-iam",
        PolicyDocument=_policy({"Effect": "Allow", "Action": "iam:*", "Resource": "*"}),
    )["Policy"]["Arn"]
    key = session(sandbox, "bounded", {"Effect": "Allow", "Action": "*", "Resource": "*"})
    iam.put_role_permissions_boundary(RoleName="bounded", PermissionsBoundary=boundary)
    ec2 = aws_client("ec2", sandbox=sandbox, key=key)
    assert denied(ec2.describe_vpcs) == "UnauthorizedOperation"
    trace = latest(sandbox).trace
    assert trace["verdict"]["kind"] == "boundary"
    assert trace["boundary"]["arn"] == boundary
    (bounded,) = trace["boundary"]["statements"]
    assert bounded["action"]["matched"] is False
    assert statements(trace)[0]["applies"] is True  # the identity policy allowed it


def test_a_resource_of_the_wrong_type_is_said_not_to_fit(sandbox):
    users = f"arn:aws:iam::{sandbox.account_id}:user/*"
    key = session(
        sandbox, "misfit", {"Effect": "Allow", "Action": "iam:GetRole", "Resource": users}
    )
    iam = aws_client("iam", sandbox=sandbox, key=key)
    assert denied(iam.get_role, RoleName="misfit") == "AccessDenied"
    (only,) = statements(latest(sandbox).trace)
    assert only["resource"]["matched"] is False
    assert "a user ARN does not fit iam:GetRole, which takes: role." in only["notes"]


def test_s3_and_pass_role_denials_are_traced(sandbox):
    key = session(
        sandbox,
        "launcher",
        {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*"},
    )
    s3 = aws_client("s3", sandbox=sandbox, key=key)
    assert denied(s3.list_buckets) == "AccessDenied"
    trace = latest(sandbox).trace
    assert trace["action"] == "s3:ListAllMyBuckets" and trace["verdict"]["kind"] == "no-allow"

    iam = aws_client("iam", sandbox=sandbox)
    iam.create_role(RoleName="passed", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.create_instance_profile(InstanceProfileName="passed")
    iam.add_role_to_instance_profile(InstanceProfileName="passed", RoleName="passed")
    ec2 = aws_client("ec2", sandbox=sandbox, key=key)
    code = denied(
        ec2.run_instances,
        ImageId="ami-0453ec754f44f9a4a",
        MinCount=1,
        MaxCount=1,
        IamInstanceProfile={"Name": "passed"},
    )
    assert code == "UnauthorizedOperation"
    trace = latest(sandbox).trace
    assert trace["action"] == "iam:PassRole"
    assert trace["resource"] == f"arn:aws:iam::{sandbox.account_id}:role/passed"
    assert trace["context"]["iam:PassedToService"] == ["ec2.amazonaws.com"]
    (only,) = statements(trace)
    assert only["action"]["matched"] is False  # ec2:RunInstances does not cover iam:PassRole
