"""The least-privilege lab (content/least-privilege.toml): its check runs the app's calls and
the forbidden ones with the instance's own role credentials, on a real sandbox server through
the gate, and the policy findings come from cloudsplaining."""

import json

import pytest
from botocore import xform_name

from learnlab.gate.client import aws_client
from learnlab.labs.catalog import lab_get
from learnlab.labs.checks import CHECKS, SandboxView
from learnlab.labs.checks_least_privilege import lint_findings

pytestmark = pytest.mark.django_db
ROLE = "LogAppRole"


def _prepared(sandbox) -> str:
    """The lab's own [[setup]] calls, as its file declares them."""
    clients = {}
    for call in lab_get("least-privilege").setup:
        client = clients.setdefault(call.service, aws_client(call.service, sandbox=sandbox))
        answer = getattr(client, xform_name(call.operation))(**call.params)
    return answer["Instances"][0]["InstanceId"]


def _policy(sandbox, *statements) -> None:
    aws_client("iam", sandbox=sandbox).put_role_policy(
        RoleName=ROLE,
        PolicyName=f"{ROLE}-inline",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}),
    )


def _allow(action: str, resource: str) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def _check(sandbox):
    return CHECKS["least_privilege_app"](SandboxView(sandbox))


def test_star_then_too_tight_then_least_privilege(sandbox):
    """Follows AWS's "Security best practices in IAM" (grant least privilege) and the S3
    "Policy actions" page: ListBucket is granted on the bucket ARN, GetObject and PutObject on
    object ARNs; IAM evaluates the role session's identity policy on each call."""
    _prepared(sandbox)
    bucket = f"app-{sandbox.account_id}"

    result = _check(sandbox)  # the prepared "Action": "*"
    assert not result.passed
    assert "still allows 7 of 7 calls" in result.message
    assert "iam list-users" in result.message and "--key private/payroll.csv" in result.message
    assert "cloudsplaining" in result.message and "privilege escalation" in result.message

    # One ARN for everything: ListBucket on an object ARN never matches the bucket.
    _policy(sandbox, _allow("s3:*", f"arn:aws:s3:::{bucket}/*"))
    result = _check(sandbox)
    assert not result.passed and "now fails" in result.message
    assert f"list-objects-v2 --bucket {bucket} (AccessDenied)" in result.message

    # Close, but reads every object and writes anywhere in the bucket.
    _policy(
        sandbox,
        _allow("s3:ListBucket", f"arn:aws:s3:::{bucket}"),
        _allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*"),
        _allow("s3:PutObject", f"arn:aws:s3:::{bucket}/*"),
    )
    result = _check(sandbox)
    assert not result.passed and "still allows 2 of 7" in result.message
    assert "private/payroll.csv" in result.message and "reports/summary.csv" in result.message

    _policy(
        sandbox,
        _allow("s3:ListBucket", f"arn:aws:s3:::{bucket}"),
        _allow("s3:GetObject", f"arn:aws:s3:::{bucket}/reports/*"),
        _allow("s3:PutObject", f"arn:aws:s3:::{bucket}/logs/*"),
    )
    result = _check(sandbox)
    assert result.passed, result.message
    assert "denies all 7 other calls" in result.message and not result.warning


def test_findings_are_cloudsplainings():
    star = {"Version": "2012-10-17", "Statement": [_allow("*", "*")]}
    s3_any = {"Version": "2012-10-17", "Statement": [_allow("s3:GetObject", "*")]}
    tight = {"Version": "2012-10-17", "Statement": [_allow("s3:GetObject", "arn:aws:s3:::b/*")]}
    assert any("privilege escalation" in f for f in lint_findings([("star", star)]))
    assert lint_findings([("s3", s3_any)]) == [
        "s3: data exfiltration on any resource (s3:GetObject)",
        's3: "Resource": "*" for s3:GetObject',
    ]
    assert lint_findings([("tight", tight)]) == []
