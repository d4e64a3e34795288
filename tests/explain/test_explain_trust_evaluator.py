"""The one trust evaluator (lib/iam_policy.py ``explain_trust``): the gate's AssumeRole check,
the metadata service's "can EC2 assume this role?" and the traces all decide with it. Follows
the IAM User Guide's "IAM JSON policy elements: Action" (only ``*`` and ``?`` are wildcards)
and "Policy evaluation logic" (a matching Deny wins)."""

import json

from learnlab.lib.iam_policy import EC2_SERVICE, EC2_TRUST_POLICY, explain_trust, trust_allows

USER = "arn:aws:iam::123456789012:user/learnlab"


def _trust(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_each_statement_is_judged_and_a_deny_wins():
    policy = _trust(
        {"Sid": "Ec2", "Effect": "Allow", "Principal": {"Service": EC2_SERVICE}, "Action": "sts:*"},
        {"Sid": "Me", "Effect": "Allow", "Principal": {"AWS": USER}, "Action": "sts:AssumeRole"},
        {"Sid": "NotMe", "Effect": "Deny", "Principal": {"AWS": "123456789012"}, "Action": "*"},
    )
    ec2 = explain_trust(policy, service=EC2_SERVICE)
    assert ec2.allowed and [s.applies for s in ec2.statements] == [True, False, False]
    me = explain_trust(policy, principal_arn=USER)
    assert not me.allowed and me.explicit_deny and me.verdict == "explicit deny"
    assert [s.sid for s in me.statements if s.applies] == ["Me", "NotMe"]


def test_a_trust_policy_for_another_service_says_which_it_names():
    policy = _trust(
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    )
    decision = explain_trust(policy, service=EC2_SERVICE)
    (statement,) = decision.statements
    assert decision.verdict == "no allow" and statement.action_matched
    assert "lambda.amazonaws.com" in statement.reason and EC2_SERVICE in statement.reason


def test_unreadable_documents_allow_nothing_and_say_why():
    for bad in ("{", "[1]", json.dumps({"Statement": "nope"})):
        decision = explain_trust(bad, service=EC2_SERVICE)
        assert decision.allowed is False
    assert explain_trust("{", service=EC2_SERVICE).verdict == "not readable"
    assert trust_allows(EC2_TRUST_POLICY, service=EC2_SERVICE)
