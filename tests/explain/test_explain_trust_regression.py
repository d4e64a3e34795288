"""Regression: the trust evaluator read IAM action patterns with fnmatch, where ``[...]`` is a
character class; IAM's only wildcards are ``*`` and ``?`` (IAM User Guide, "IAM JSON policy
elements: Action"), so ``sts:Assume[R]ole`` names no action and allows nothing."""

import json

from learnlab.lib.iam_policy import EC2_SERVICE, trust_allows


def _trust(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_brackets_in_an_action_are_literal_not_a_character_class():
    """Regression: fnmatch read ``[R]`` as a class, so ``sts:Assume[R]ole`` matched
    sts:AssumeRole; IAM has no such wildcard and the statement matches nothing."""
    policy = _trust(
        {"Effect": "Allow", "Principal": {"Service": EC2_SERVICE}, "Action": "sts:Assume[R]ole"}
    )
    assert trust_allows(policy, service=EC2_SERVICE) is False
