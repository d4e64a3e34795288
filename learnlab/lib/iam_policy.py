"""Evaluate IAM role trust policies the way STS does.

Pure functions with no Django and no moto, so the gate (deciding ``AssumeRole``), the sandbox
server (replacing moto's trust check, which crashes on service principals) and the metadata
service (can EC2 assume this role?) share one evaluator. Conditions are not evaluated.
"""

import json
import re
from fnmatch import fnmatchcase

SESSION_ARN = re.compile(r"^arn:aws:sts::(\d{12}):assumed-role/([^/]+)/[^/]+$")
IAM_ARN = re.compile(r"^arn:aws:iam::(\d{12}):")


def parse_policy(document) -> dict:
    """A policy document as a dict; moto stores them as JSON strings, possibly URL-decoded."""
    if isinstance(document, dict):
        return document
    parsed = json.loads(document)
    if not isinstance(parsed, dict):
        raise ValueError("a policy document must be a JSON object")
    return parsed


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def action_matches(patterns, action: str) -> bool:
    """IAM action patterns are case-insensitive globs (``sts:*``, ``*``)."""
    return any(fnmatchcase(action.lower(), str(p).lower()) for p in _as_list(patterns))


def aws_principal_matches(pattern: str, principal_arn: str) -> bool:
    """Does an ``AWS`` principal entry (account id, root ARN, user/role ARN, ``*``) match?"""
    if pattern == "*":
        return True
    session = SESSION_ARN.match(principal_arn)
    account = session.group(1) if session else _account_of(principal_arn)
    if pattern in (account, f"arn:aws:iam::{account}:root"):
        return True
    if session and pattern == f"arn:aws:iam::{account}:role/{session.group(2)}":
        return True
    return pattern == principal_arn


def _account_of(arn: str) -> str | None:
    match = IAM_ARN.match(arn)
    return match.group(1) if match else None


def _principal_matches(statement: dict, principal_arn: str | None, service: str | None) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    if service is not None:
        return service in _as_list(principal.get("Service"))
    return any(aws_principal_matches(p, principal_arn) for p in _as_list(principal.get("AWS")))


def trust_allows(
    document,
    *,
    principal_arn: str | None = None,
    service: str | None = None,
    action="sts:AssumeRole",
) -> bool:
    """True when the trust policy lets this principal (an ARN, or a service such as
    ``ec2.amazonaws.com``) perform ``action``: some Allow matches and no Deny does."""
    try:
        policy = parse_policy(document)
    except ValueError:
        return False
    allowed = False
    for statement in _as_list(policy.get("Statement")):
        if not isinstance(statement, dict) or not action_matches(statement.get("Action"), action):
            continue
        if not _principal_matches(statement, principal_arn, service):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


EC2_SERVICE = "ec2.amazonaws.com"  # the principal EC2 assumes instance roles as
EC2_TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": EC2_SERVICE},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
"""The trust policy that lets EC2 assume a role: what an instance role needs (EP03)."""
