"""The Condition evaluator of ``sandbox/authorization.py`` (``evaluate_conditions`` and
``evaluate``), operator by operator, as the IAM User Guide's "IAM JSON policy elements:
Condition operators" page describes them: a key the request lacks makes the condition false,
except under a negated operator ("StringNotLike or ArnNotLike ... the condition is true"),
``...IfExists`` and ``Null``; "Single-valued vs. multivalued context keys" (``ForAnyValue:``,
``ForAllValues:``); "Policy evaluation logic" and "Permissions boundaries for IAM entities"
for ``evaluate``.

These run the evaluator in this process (no server): the live paths through the gate are in
tests/security_r1/test_r1_authorization.py and tests/sandbox/test_authorization_r1_extras.py."""

import logging

import pytest

from learnlab.sandbox.authorization import evaluate, evaluate_conditions

CONTEXT = {
    "aws:requestedregion": ["us-east-1"],
    "ec2:instancetype": ["t3.micro"],
    "aws:principalarn": ["arn:aws:iam::123456789012:role/team/app"],
    "aws:epochtime": ["1767225600"],  # 2026-01-01T00:00:00Z
    "aws:currenttime": ["2026-01-01T00:00:00Z"],
    "aws:securetransport": ["true"],
    "aws:sourceip": ["203.0.113.7"],
    "aws:tagkeys": ["team", "cost"],
}


def held(block) -> bool:
    outcome = evaluate_conditions(block, CONTEXT)
    return outcome.held and outcome.known


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"StringEquals": {"aws:RequestedRegion": "us-east-1"}}, True),
        ({"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}}, True),
        ({"StringEquals": {"aws:RequestedRegion": "US-EAST-1"}}, False),
        ({"StringEqualsIgnoreCase": {"aws:RequestedRegion": "US-EAST-1"}}, True),
        ({"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}, True),
        ({"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}}, False),
        ({"StringNotEqualsIgnoreCase": {"aws:RequestedRegion": "US-east-1"}}, False),
        ({"StringLike": {"ec2:InstanceType": "t3.*"}}, True),
        ({"StringLike": {"ec2:InstanceType": "t3.?icro"}}, True),
        ({"StringLike": {"ec2:InstanceType": "m5.*"}}, False),
        ({"StringNotLike": {"ec2:InstanceType": "*.metal"}}, True),
        # Condition keys are case-insensitive, values are not.
        ({"StringEquals": {"EC2:INSTANCETYPE": "t3.micro"}}, True),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/team/*"}}, True),
        ({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/team/app"}}, True),
        ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/admin"}}, True),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/*"}}, False),
        ({"NumericLessThan": {"aws:EpochTime": "1767225601"}}, True),
        ({"NumericLessThanEquals": {"aws:EpochTime": 1767225600}}, True),
        ({"NumericGreaterThan": {"aws:EpochTime": "1767225600"}}, False),
        ({"NumericGreaterThanEquals": {"aws:EpochTime": "1767225600"}}, True),
        ({"NumericEquals": {"aws:EpochTime": "1767225600"}}, True),
        ({"NumericEquals": {"aws:EpochTime": "not a number"}}, False),
        ({"DateLessThan": {"aws:CurrentTime": "2026-06-01T00:00:00Z"}}, True),
        ({"DateGreaterThan": {"aws:CurrentTime": "2026-06-01T00:00:00Z"}}, False),
        ({"Bool": {"aws:SecureTransport": True}}, True),
        ({"Bool": {"aws:SecureTransport": "false"}}, False),
        ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, True),
        ({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, False),
        ({"IpAddress": {"aws:SourceIp": "not an address"}}, False),
        # Every operator and every key in a block must hold.
        (
            {
                "StringEquals": {"aws:RequestedRegion": "us-east-1", "ec2:InstanceType": "t3.nano"},
            },
            False,
        ),
        (
            {
                "StringEquals": {"aws:RequestedRegion": "us-east-1"},
                "StringLike": {"ec2:InstanceType": "t3.*"},
            },
            True,
        ),
    ],
)
def test_each_operator_compares_as_iam_does(block, expected):
    assert held(block) is expected


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"StringEquals": {"aws:username": "dev"}}, False),
        ({"StringLike": {"aws:username": "*"}}, False),
        # "If the policy condition requires that the key is not matched ... the condition
        # is true."
        ({"StringNotEquals": {"aws:username": "dev"}}, True),
        ({"ArnNotLike": {"aws:SourceArn": "arn:*"}}, True),
        ({"StringEqualsIfExists": {"aws:username": "dev"}}, True),
        ({"StringEqualsIfExists": {"ec2:InstanceType": "t3.nano"}}, False),
        ({"Null": {"aws:username": "true"}}, True),
        ({"Null": {"aws:username": "false"}}, False),
        ({"Null": {"ec2:InstanceType": "false"}}, True),
        ({"Null": {"ec2:InstanceType": True}}, False),
        ({"ForAnyValue:StringEquals": {"aws:username": "dev"}}, False),
        ({"ForAllValues:StringEquals": {"aws:username": "dev"}}, True),
    ],
)
def test_a_key_the_request_lacks(block, expected):
    assert held(block) is expected


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}, True),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["owner"]}}, False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "cost", "owner"]}}, True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}, False),
        ({"ForAllValues:StringLike": {"aws:TagKeys": ["*"]}}, True),
        ({"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["team"]}}, True),
        ({"ForAllValues:StringNotEquals": {"aws:TagKeys": ["owner"]}}, True),
        ({"ForAllValues:StringNotEquals": {"aws:TagKeys": ["team"]}}, False),
    ],
)
def test_set_qualifiers_over_a_multivalued_key(block, expected):
    assert held(block) is expected


def test_an_unknown_operator_makes_the_statement_not_apply_and_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="learnlab.sandbox.authorization"):
        outcome = evaluate_conditions({"BinaryEquals": {"aws:username": "ZGV2"}}, CONTEXT)
    assert not outcome.known
    assert "BinaryEquals" in caplog.text
    for broken in ("not an object", {"StringEquals": "not an object"}, ["a", "list"]):
        assert not held(broken), broken


def test_the_outcome_says_which_check_failed_and_why():
    outcome = evaluate_conditions(
        {
            "StringEquals": {"aws:RequestedRegion": "us-east-1"},
            "StringLike": {"ec2:InstanceType": "m5.*"},
        },
        CONTEXT,
    )
    assert not outcome.held
    by_key = {check.key: check for check in outcome.checks}
    assert by_key["aws:RequestedRegion"].held
    failed = by_key["ec2:InstanceType"]
    assert (failed.operator, failed.values, failed.context, failed.held) == (
        "StringLike",
        ["m5.*"],
        ["t3.micro"],
        False,
    )


def _document(*statements) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


ALLOW_EC2 = {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}


def test_a_condition_gates_allow_and_deny_alike():
    elsewhere = {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}
    documents = [
        _document(ALLOW_EC2, {**ALLOW_EC2, "Effect": "Deny", "Condition": elsewhere}),
    ]
    decision = evaluate(documents, "ec2:DescribeInstances", "*", CONTEXT)
    assert decision.allowed and not decision.explicit_deny
    # Both statements matched action and resource; the Deny's condition did not hold.
    assert [(m.effect, m.applies) for m in decision.matched] == [
        ("Allow", True),
        ("Deny", False),
    ]
    only_elsewhere = [_document({**ALLOW_EC2, "Condition": elsewhere})]
    assert not evaluate(only_elsewhere, "ec2:DescribeInstances", "*", CONTEXT).allowed


def test_a_boundary_caps_what_identity_policies_allow():
    documents = [_document(ALLOW_EC2)]
    s3_only = [_document({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})]
    decision = evaluate(documents, "ec2:DescribeInstances", "*", CONTEXT, boundary=s3_only)
    assert not decision.allowed and not decision.explicit_deny
    assert decision.refused_by == "boundary"
    assert evaluate(documents, "ec2:DescribeInstances", "*", CONTEXT, boundary=[]).allowed is False
    assert evaluate(documents, "ec2:DescribeInstances", "*", CONTEXT, boundary=None).allowed
    denying = [_document(ALLOW_EC2, {**ALLOW_EC2, "Effect": "Deny"})]
    decision = evaluate(documents, "ec2:DescribeInstances", "*", CONTEXT, boundary=denying)
    assert decision.explicit_deny and decision.refused_by == "boundary"
    # Neither allows: the identity policies' implicit deny is what AWS names.
    decision = evaluate([], "ec2:DescribeInstances", "*", CONTEXT, boundary=s3_only)
    assert decision.refused_by == "identity"
