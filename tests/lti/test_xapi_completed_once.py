"""The xAPI ``completed`` statement is sent once per learner and lab: when a Check first
finishes the lab, not again on each passing re-Check of the finished lab (as the embed's
``lab.completed`` event). Real Checks of the one-step least-privilege lab on a real sandbox
server, to the recording LRS of test_xapi.py."""

import json

import pytest
from botocore import xform_name

from learnlab.gate.client import aws_client
from learnlab.labs.catalog import lab_get
from learnlab.labs.services import step_check
from tests.lti.test_xapi import _statements, lrs  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)
LAB = lab_get("least-privilege")
ROLE = "LogAppRole"


def _finish(sandbox) -> None:
    """The lab's [[setup]] calls, then the least-privilege policy its check passes."""
    clients = {}
    for call in LAB.setup:
        client = clients.setdefault(call.service, aws_client(call.service, sandbox=sandbox))
        getattr(client, xform_name(call.operation))(**call.params)
    bucket = f"app-{sandbox.account_id}"
    statements = [
        ("s3:ListBucket", f"arn:aws:s3:::{bucket}"),
        ("s3:GetObject", f"arn:aws:s3:::{bucket}/reports/*"),
        ("s3:PutObject", f"arn:aws:s3:::{bucket}/logs/*"),
    ]
    aws_client("iam", sandbox=sandbox).put_role_policy(
        RoleName=ROLE,
        PolicyName=f"{ROLE}-inline",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": a, "Resource": r} for a, r in statements
                ],
            }
        ),
    )


def _verbs(received) -> list[str]:
    return [s["verb"]["id"].rsplit("/", 1)[1] for s in _statements(received)]


def test_rechecking_a_finished_lab_sends_no_second_completed(lrs, sandbox):  # noqa: F811
    received, _ = lrs
    (step,) = LAB.steps
    _finish(sandbox)
    result = step_check(learner=sandbox.learner, sandbox=sandbox, lab=LAB, step=step)
    assert result.passed, result.message
    assert _verbs(received) == ["attempted", "passed", "completed"]
    for _ in range(2):  # the finished lab checked again: attempted and passed, no completed
        assert step_check(learner=sandbox.learner, sandbox=sandbox, lab=LAB, step=step).passed
    assert _verbs(received) == ["attempted", "passed", "completed"] + ["attempted", "passed"] * 2
