"""Our policy evaluator against moto's own (issue 19): every identity policy the test suite
writes, replayed through ``sandbox.authorization.evaluate`` and moto's original
``moto.iam.access_control.IAMPolicy.is_action_permitted`` for every action the suite names on
typical resources, with 0 disagreements wherever moto's semantics apply.

The semantics both follow are the IAM User Guide's "Policy evaluation logic" (an explicit deny
wins; else an allow; else the implicit deny) and "IAM JSON policy elements: Action / Resource"
pages, as moto implements them in moto/iam/access_control.py (``IAMPolicyStatement``).

Excluded, where moto knowingly departs from AWS (so a difference is moto's, not ours):
- ``condition``: moto answers DENIED (an explicit deny) for a statement whose condition fails,
  and evaluates only a few keys; AWS skips the statement;
- ``not-resource``: moto ignores NotResource;
- ``no-resource``: moto PERMITS for any statement with no Resource, even a Deny (its trust
  policy path); IAM refuses such an identity policy as malformed;
- ``case``: moto matches actions case-sensitively, AWS case-insensitively (``iam:listroles``);
- ``regex``: moto reads patterns as regular expressions (``?``, ``.``, ``+``... are special), AWS
  as globs where only ``*`` and ``?`` are;
- ``effect``: an Effect other than Allow/Deny (moto treats it as Deny, IAM refuses it);
- ``principal``: a statement naming a Principal is a resource or trust policy, not identity;
- ``malformed``: a Statement that is not an object or a list of objects (the suite's bad
  input tests): IAM refuses it as MalformedPolicyDocument, moto's evaluator raises on it.
"""

import ast
import contextlib
import json
import re
from pathlib import Path

from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.iam.aws_managed_policies import aws_managed_policies_data

from learnlab.sandbox.authorization import evaluate

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
ACTION = re.compile(r"^(iam|ec2|sts|s3):[A-Za-z]+$")
MANAGED = re.compile(r"arn:aws:iam::aws:policy/([A-Za-z0-9_-]+)")
RESOURCES = [
    "*",
    f"arn:aws:iam::{ACCOUNT}:role/",
    f"arn:aws:iam::{ACCOUNT}:role/app",
    f"arn:aws:iam::{ACCOUNT}:role/other",
    f"arn:aws:iam::{ACCOUNT}:user/learnlab",
    f"arn:aws:iam::{ACCOUNT}:instance-profile/app",
    f"arn:aws:iam::{ACCOUNT}:policy/app-policy",
    f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0123456789abcdef0",
    f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-0fedcba9876543210",
    "arn:aws:s3:::lab-bucket",
    "arn:aws:s3:::lab-bucket/notes.txt",
    "arn:aws:s3:::other-bucket/key",
]
REGEX_SPECIAL = set(".+?()[]{}|^$\\")


def _literal(node):
    """A literal, with f-strings' holes filled by the corpus account id."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.JoinedStr):
        return "".join(
            str(v.value) if isinstance(v, ast.Constant) else ACCOUNT for v in node.values
        )
    raise ValueError("not a literal")


def _documents_in(value) -> list[dict]:
    if isinstance(value, str) and '"Statement"' in value:
        try:
            value = json.loads(value)
        except ValueError:
            return []
    if isinstance(value, dict) and "Statement" in value:
        return [value]
    if isinstance(value, dict) and "Effect" in value:
        return [{"Version": "2012-10-17", "Statement": [value]}]
    return []


def corpus() -> tuple[list[dict], list[str]]:
    """Every policy document and statement literal in the tests, the AWS managed policies
    they attach, and every action they name."""
    documents, actions = [], set()
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if path.name.startswith("test_evaluator_agreement") or path.name == "agreement.py":
            continue  # the agreement checks' own statements are crafted to be excluded
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if ACTION.match(node.value):
                    actions.add(node.value)
                for name in MANAGED.findall(node.value):
                    managed = aws_managed_policies_data_parsed().get(name)
                    if managed:
                        documents.append(managed)
            if isinstance(node, ast.Dict | ast.Constant | ast.JoinedStr):
                with contextlib.suppress(ValueError, TypeError):
                    documents += _documents_in(_literal(node))
    unique = {json.dumps(d, sort_keys=True): d for d in documents}
    for document in unique.values():
        for statement in _statements(document):
            for pattern in _as_list(statement.get("Action")):
                if isinstance(pattern, str) and ACTION.match(pattern):
                    actions.add(pattern)
    return list(unique.values()), sorted(actions)


_managed: dict = {}


def aws_managed_policies_data_parsed() -> dict:
    if not _managed:
        for name, policy in json.loads(aws_managed_policies_data).items():
            _managed[name] = policy["Document"]
    return _managed


def _as_list(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _statements(document) -> list:
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, dict)]


def excluded(document: dict, action: str) -> str | None:
    """Why moto's semantics do not apply to this policy for this action (None: they do)."""
    raw = document.get("Statement")
    if not isinstance(raw, dict | list) or not all(isinstance(s, dict) for s in _as_list(raw)):
        return "malformed"  # IAM refuses it; moto's evaluator raises on it
    for statement in _statements(document):
        if "Condition" in statement:
            return "condition"
        if "NotResource" in statement:
            return "not-resource"
        if "Principal" in statement or "NotPrincipal" in statement:
            return "principal"
        if not statement.get("Resource"):
            return "no-resource"
        if statement.get("Effect") not in ("Allow", "Deny"):
            return "effect"
        for element in ("Action", "NotAction", "Resource"):
            for pattern in _as_list(statement.get(element)):
                if not isinstance(pattern, str) or REGEX_SPECIAL & set(pattern.replace(".", "")):
                    return "regex"
        for pattern in _as_list(statement.get("Action", statement.get("NotAction"))):
            glob = "^" + re.escape(pattern).replace(r"\*", ".*") + "$"
            if bool(re.match(glob, action, re.I)) != bool(re.match(glob, action)):
                return "case"
    return None


def ours(document: dict, action: str, resource: str) -> PermissionResult:
    decision = evaluate([document], action, resource, {})
    if decision.explicit_deny:
        return PermissionResult.DENIED
    return PermissionResult.PERMITTED if decision.allowed else PermissionResult.NEUTRAL


def test_our_evaluator_agrees_with_motos_wherever_its_semantics_apply():
    documents, actions = corpus()
    assert len(documents) >= 20, "the corpus lost the suite's policies"
    assert len(actions) >= 20
    compared, skipped, disagreements = 0, {}, []
    for document in documents:
        moto_policy = IAMPolicy(json.dumps(document))
        for action in actions:
            reason = excluded(document, action)
            if reason:
                skipped[reason] = skipped.get(reason, 0) + 1
                continue
            for resource in RESOURCES:
                theirs = moto_policy.is_action_permitted(action, resource)
                mine = ours(document, action, resource)
                compared += 1
                if theirs != mine:
                    disagreements.append((document, action, resource, theirs, mine))
    print(
        f"{len(documents)} policies, {len(actions)} actions; compared {compared} "
        f"(policy, action, resource) triples; excluded {skipped}"
    )
    assert compared >= 5_000
    assert disagreements == [], disagreements[:5]


def test_an_allow_and_a_deny_both_disagree_where_moto_departs_from_aws():
    """The exclusions are real: on them, moto and AWS (so we) answer differently."""
    role = f"arn:aws:iam::{ACCOUNT}:role/app"
    lower = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:getrole", "Resource": "*"}],
    }
    assert excluded(lower, "iam:GetRole") == "case"
    assert ours(lower, "iam:GetRole", role) == PermissionResult.PERMITTED
    assert IAMPolicy(json.dumps(lower)).is_action_permitted("iam:GetRole", role) == (
        PermissionResult.NEUTRAL
    )
    no_resource_deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "iam:GetRole"}],
    }
    assert excluded(no_resource_deny, "iam:GetRole") == "no-resource"
    assert IAMPolicy(json.dumps(no_resource_deny)).is_action_permitted("iam:GetRole", role) == (
        PermissionResult.PERMITTED
    )
    assert ours(no_resource_deny, "iam:GetRole", role) == PermissionResult.DENIED
