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
  case-sensitive (resources) globs; an explicit Deny wins. Conditions are not evaluated (as in
  ``lib/iam_policy.py``): a statement with a Condition applies as if it held;
- words the denial as the IAM User Guide's "Access denied error message examples" do:
  "User: <arn> is not authorized to perform: <action> on resource: <arn> because no
  identity-based policy allows the <action> action" or "... with an explicit deny in an
  identity-based policy" (S3 quotes the resource, as its troubleshoot-403 page shows; since
  2024 S3 gives this detail to requests from the bucket owner's own account, which is every
  request in a sandbox);
- answers EC2 with ``UnauthorizedOperation`` (403): "You are not authorized to perform this
  operation. <the same sentence>. Encoded authorization failure message: <opaque>";
- asks, for RunInstances, AssociateIamInstanceProfile and ReplaceIamInstanceProfileAssociation
  naming a profile, for ``iam:PassRole`` on each of the profile's roles (EP18).

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
import json
import os
import re
import zlib
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.iam.access_control import IAMPolicy, IAMRequestBase, IAMUserAccessKey
from moto.iam.exceptions import NotFoundException
from moto.s3.exceptions import S3ClientError
from moto.sts.responses import TokenResponse
from werkzeug.exceptions import HTTPException

from learnlab.lib.aws_errors import AwsError

PASS_ROLE = "iam:PassRole"  # noqa: S105 - an IAM action, not a password
EC2_SERVICE = "ec2.amazonaws.com"
ATTACHES_A_ROLE = frozenset(
    {
        "ec2:RunInstances",
        "ec2:AssociateIamInstanceProfile",
        "ec2:ReplaceIamInstanceProfileAssociation",
    }
)
NO_ALLOW = "because no identity-based policy allows the {action} action"
EXPLICIT_DENY = "with an explicit deny in an identity-based policy"
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


@dataclass
class Decision:
    """What the caller's identity policies say about one action on one resource."""

    allowed: bool = False
    explicit_deny: bool = False
    denied_by: list[dict] = field(default_factory=list)


# Policy evaluation


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@functools.lru_cache(maxsize=1024)
def _glob(pattern: str, *, ignore_case: bool) -> re.Pattern:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one; nothing else is special."""
    parts = (re.escape(c) if c not in "*?" else ("." if c == "?" else ".*") for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _any_matches(patterns, value: str, *, ignore_case: bool) -> bool:
    return any(
        isinstance(p, str) and _glob(p, ignore_case=ignore_case).fullmatch(value)
        for p in _as_list(patterns)
    )


def _statement_applies(statement: dict, action: str, resource: str) -> bool:
    if "NotAction" in statement:
        if _any_matches(statement["NotAction"], action, ignore_case=True):
            return False
    elif not _any_matches(statement.get("Action"), action, ignore_case=True):
        return False
    if "NotResource" in statement:
        return not _any_matches(statement["NotResource"], resource, ignore_case=False)
    return _any_matches(statement.get("Resource", "*"), resource, ignore_case=False)


def evaluate(documents: list[dict], action: str, resource: str) -> Decision:
    """AWS's evaluation of identity policies within one account: an explicit Deny wins, then
    an Allow, else the implicit deny."""
    decision = Decision()
    for document in documents:
        for statement in _as_list(document.get("Statement")):
            if not isinstance(statement, dict) or not _statement_applies(
                statement, action, resource
            ):
                continue
            if statement.get("Effect") == "Deny":
                decision.explicit_deny = True
                decision.denied_by.append(statement)
            elif statement.get("Effect") == "Allow":
                decision.allowed = True
    decision.allowed = decision.allowed and not decision.explicit_deny
    return decision


def _documents(access_key) -> list[dict]:
    """The caller's identity policies as dicts (moto stores strings, dicts and versions)."""
    documents = []
    for policy in access_key.collect_policies():
        try:
            document = IAMPolicy(policy)._policy_json
        except (ValueError, TypeError, KeyError, StopIteration):
            continue  # a policy moto could not read grants nothing
        if isinstance(document, dict):
            documents.append(document)
    return documents


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


def _ec2_resource(request, data) -> str:
    prefix = f"arn:aws:ec2:{request._region}:{request.account_id}"
    if request._action == "ec2:RunInstances":
        return f"{prefix}:instance/*"
    instance_id = _param(data, "InstanceId") or _param(data, "InstanceId.1")
    return f"{prefix}:instance/{instance_id}" if instance_id else "*"


def _resource(request, moto_resource: str) -> str:
    """The ARN AWS evaluates and names: moto's for S3 and STS (bucket or object, RoleArn)."""
    data = request._data
    if request._service == "iam":
        return _iam_resource(request, data)
    if request._service == "ec2":
        return _ec2_resource(request, data)
    return moto_resource


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
    principal_arn: str, action: str, resource: str, *, explicit: bool, quote_resource=False
) -> str:
    """AWS's sentence for a denial by identity-based policies."""
    shown = f'"{resource}"' if quote_resource else resource
    on = "" if resource in ANY_RESOURCE else f" on resource: {shown}"
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
        "conditions": {"items": []},
    }


def authorization_document(
    request, action: str, resource: str, decision: Decision, conditions: dict[str, str]
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
                    {"key": key, "values": {"items": [{"value": value}]}}
                    for key, value in conditions.items()
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


def _conditions(request, action: str) -> dict[str, str]:
    conditions = {"aws:Region": request._region}
    if action == PASS_ROLE:
        conditions["iam:PassedToService"] = EC2_SERVICE
    elif request._service == "ec2":
        conditions["ec2:Region"] = request._region
        if instance_type := _param(request._data, "InstanceType"):
            conditions["ec2:InstanceType"] = instance_type
    return conditions


def _deny(request, action: str, resource: str, decision: Decision) -> Exception:
    principal_arn = request._access_key.arn
    explicit = decision.explicit_deny
    if request._service == "s3":
        sentence = denial_sentence(
            principal_arn, action, resource, explicit=explicit, quote_resource=True
        )
        return S3Denied(sentence, _param(request._data, "BucketName"))
    sentence = denial_sentence(principal_arn, action, resource, explicit=explicit)
    if request._service == "ec2":
        document = authorization_document(
            request, action, resource, decision, _conditions(request, action)
        )
        encoded = encode_message(request.account_id, document)
        message = f"{EC2_PREFIX} {sentence}. Encoded authorization failure message: {encoded}"
        return Denied(AwsError("UnauthorizedOperation", message, 403), "ec2")
    return Denied(AwsError("AccessDenied", sentence, 403), "query")


def _trust_refused(request, resource: str) -> Exception:
    """STS's words when the role's trust policy does not name the caller."""
    message = (
        f"User: {request._access_key.arn} is not authorized to perform: {request._action} "
        f"on resource: {resource}"
    )
    return Denied(AwsError("AccessDenied", message, 403), "query")


# PassRole


def _profile(request):
    """The instance profile an EC2 call attaches, if it names one that exists."""
    data = request._data
    arn, name = _param(data, "IamInstanceProfile.Arn"), _param(data, "IamInstanceProfile.Name")
    for profile in request.backend.instance_profiles.values():
        if (arn and profile.arn == arn) or (name and profile.name == name):
            return profile
    return None


def _check_pass_role(request, documents: list[dict]) -> None:
    """Attaching a profile passes its role to EC2: the caller needs iam:PassRole on it."""
    if request._action not in ATTACHES_A_ROLE:
        return
    profile = _profile(request)
    for role in profile.roles if profile else ():
        decision = evaluate(documents, PASS_ROLE, role.arn)
        if not decision.allowed:
            raise _deny(request, PASS_ROLE, role.arn, decision)


def check_action_permitted(self, resource: str) -> None:
    """Replaces moto's IAMRequestBase.check_action_permitted (see the module docstring)."""
    if self._action == "sts:GetCallerIdentity":
        return  # AWS allows it whatever the policies say
    documents = _documents(self._access_key)
    resource = _resource(self, resource)
    decision = evaluate(documents, self._action, resource)
    if not decision.allowed:
        raise _deny(self, self._action, resource, decision)
    if self._is_assuming_role_operation(resource) and not self._check_role_trust_relationship(
        resource
    ):
        raise _trust_refused(self, resource)
    _check_pass_role(self, documents)


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
