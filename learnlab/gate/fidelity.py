"""Where moto is laxer than AWS, answer as AWS does, before the request reaches moto.

Each rule takes the request's parameters and the caller's access key, and raises an AwsError
worded as AWS words it (sources in reference/moto.md §3.2, §3.3, §5, and each rule's
docstring). The rules that need the account's state (principals that exist, AMIs, instance
states) run in the sandbox server, ``learnlab/sandbox/strictness.py``.
"""

import functools
import json
import re
import unicodedata

import botocore.session

from learnlab.lib import aws_errors
from learnlab.lib.aws_errors import AwsError
from learnlab.lib.iam_policy import parse_policy, trust_allows
from learnlab.sandbox import connection
from learnlab.sandbox.models import AccessKey

# An account id as moto reads one: 12 digits, not part of a longer word (hex digests are not).
# Twelve digits standing alone, except as a UUID's last group (an SDK's random ClientToken ends
# in twelve digits about once in 300 calls).
ACCOUNT_ID = re.compile(
    r"(?<![0-9A-Za-z])(?<![0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-)"
    r"[0-9]{12}(?![0-9A-Za-z])"
)
PROFILE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):instance-profile/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$")
ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$")
SERVICE_PRINCIPAL = re.compile(r"^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$")
AWS_PRINCIPAL = re.compile(
    r"^(\*|\d{12}|arn:aws:iam::\d{12}:(root|user/.+|role/.+)|arn:aws:sts::\d{12}:assumed-role/.+)$"
)
# IAM's names and paths, as its API model (botocore's service-2.json) constrains them.
NAME_PATTERN = r"[\w+=,.@-]+"
NAME_INVALID = (
    "The specified value for {member} is invalid. It must contain only alphanumeric "
    "characters and/or the following: +=,.@_-"
)
PATH_INVALID = {
    "pathType": "The specified value for {member} is invalid. It must begin and end with / "
    "and contain only alphanumeric characters and/or / characters.",
    "pathPrefixType": "The specified value for {member} is invalid. It must begin with the / "
    "character and contain only alphanumeric characters and/or / characters.",
}
# EC2's ids: a prefix and 8 or 17 lower-case hex digits.
INSTANCE_ID = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
IMAGE_ID = re.compile(r"^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
EC2_ID_PARAMETER = re.compile(r"^(InstanceId|ImageId)(?:\.\d+)?$")
# IAM tags (tagKeyType, tagValueType): \p{L}\p{Z}\p{N} and these, by Unicode category.
TAG_CATEGORIES = ("L", "Z", "N")
TAG_PUNCTUATION = frozenset("_.:/=+-@")
TAG_PARAMETER = re.compile(r"^Tags\.member\.(\d+)\.(Key|Value)$")
# The pattern IAM quotes for a free-text member its model gives none (a managed policy's
# Description): letters, marks, separators, symbols, numbers, punctuation; never a control.
IAM_TEXT_PATTERN = r"[\p{L}\p{M}\p{Z}\p{S}\p{N}\p{P}]*"
IDENTITY_POLICY_ACTIONS = {
    "PutRolePolicy",
    "PutUserPolicy",
    "PutGroupPolicy",
    "CreatePolicy",
    "CreatePolicyVersion",
}


def check_own_account(texts: list[str], *, account_id: str, protocol: str) -> None:
    """No request may name an account but the sandbox's own: moto takes accounts from ARNs and
    from bare ids (``--peer-owner-id``, ``--owners``), so any 12-digit id counts."""
    for text in texts:
        for match in ACCOUNT_ID.finditer(text):
            if match.group() != account_id:
                raise aws_errors.other_account(protocol, account_id=account_id)


def check_trust_policy(document: str) -> None:
    """CreateRole and UpdateAssumeRolePolicy: AWS validates the trust policy's shape."""
    # moto costs every process that sets Django up about 30 MiB: only the gate's first trust
    # policy loads it (the supervisor and the task cluster never do).
    from moto.iam.exceptions import MalformedPolicyDocument
    from moto.iam.policy_validation import IAMTrustPolicyDocumentValidator

    try:
        json.loads(document)
    except (ValueError, RecursionError) as error:
        raise AwsError(
            "MalformedPolicyDocument", "This policy contains invalid Json", 400
        ) from error
    try:
        IAMTrustPolicyDocumentValidator(document).validate()
    except MalformedPolicyDocument as error:
        raise AwsError("MalformedPolicyDocument", error.message, 400) from error
    statements = parse_policy(document).get("Statement")
    for statement in statements if isinstance(statements, list) else [statements]:
        if "Principal" not in statement and "NotPrincipal" not in statement:
            raise AwsError("MalformedPolicyDocument", "Missing required field Principal", 400)
        principal = statement.get("Principal", "*")
        if principal == "*":
            continue
        if not isinstance(principal, dict):
            raise AwsError("MalformedPolicyDocument", "Invalid principal in policy", 400)
        for kind, pattern in (("Service", SERVICE_PRINCIPAL), ("AWS", AWS_PRINCIPAL)):
            values = principal.get(kind, [])
            for value in values if isinstance(values, list) else [values]:
                if not isinstance(value, str) or not pattern.fullmatch(value):
                    raise AwsError(
                        "MalformedPolicyDocument",
                        f"Invalid principal in policy: {json.dumps(kind.upper())}:"
                        f"{json.dumps(value)}",
                        400,
                    )


def _instance_profile_exists(account_id: str, name: str) -> bool:
    try:
        connection.instance_profile_get(account_id, name)
    except connection.SandboxServerError as error:
        if error.status == 404:
            return False
        raise
    return True


def check_instance_profile(params: dict, *, account_id: str) -> None:
    """RunInstances and (Associate|Replace)IamInstanceProfile name a profile, not a role.

    moto answers a role name with NoSuchEntity (404); AWS with InvalidParameterValue (400).
    """
    if arn := params.get("IamInstanceProfile.Arn"):
        match = PROFILE_ARN.fullmatch(arn)
        if not match or not _instance_profile_exists(account_id, match.group(2)):
            raise AwsError(
                "InvalidParameterValue",
                f"Value ({arn}) for parameter iamInstanceProfile.arn is invalid. "
                "Invalid IAM Instance Profile ARN",
            )
    name = params.get("IamInstanceProfile.Name")
    if name is not None and (
        not name or "/" in name or not _instance_profile_exists(account_id, name)
    ):
        raise AwsError(
            "InvalidParameterValue",
            f"Value ({name}) for parameter iamInstanceProfile.name is invalid. "
            "Invalid IAM Instance Profile name",
        )


def check_assume_role(params: dict, *, key: AccessKey) -> None:
    """STS evaluates the role's trust policy; moto crashes on service principals and lets
    anyone assume a role that does not exist."""
    role_arn = params.get("RoleArn", "")
    denied = AwsError(
        "AccessDenied",
        f"User: {key.principal_arn} is not authorized to perform: sts:AssumeRole "
        f"on resource: {role_arn}",
        403,
    )
    match = ROLE_ARN.fullmatch(role_arn)
    if not match:
        raise denied
    try:
        role = connection.role_get(key.sandbox.account_id, match.group(2))
    except connection.SandboxServerError as error:
        if error.status == 404:
            raise denied from error
        raise
    if role["arn"] != role_arn or not trust_allows(
        role["trust_policy"], principal_arn=key.principal_arn
    ):
        raise denied


@functools.cache
def _service_model(service: str):
    """A service's API model as botocore ships it, loaded once a process (each new botocore
    session would read and parse the model's JSON again)."""
    return botocore.session.get_session().get_service_model(service)


def _input_members(service: str, action: str) -> dict:
    """The input members of ``action`` in ``service``'s model; empty for an unknown action."""
    model = _service_model(service)
    if action not in model.operation_names:
        return {}
    shape = model.operation_model(action).input_shape
    return shape.members if shape else {}


@functools.cache
def _iam_constraints(action: str) -> tuple:
    """(parameter, member as AWS names it, max length, compiled pattern, wording) for each of
    the action's names and paths, read from IAM's API model as botocore ships it."""
    found = []
    for parameter, member in _input_members("iam", action).items():
        pattern = member.metadata.get("pattern")
        if member.type_name != "string" or not pattern:
            continue
        if pattern == NAME_PATTERN:
            wording = NAME_INVALID
        elif member.name in PATH_INVALID:
            wording = PATH_INVALID[member.name]
        else:
            continue
        found.append(
            (
                parameter,
                parameter[0].lower() + parameter[1:],
                member.metadata.get("max"),
                re.compile(pattern, re.ASCII),
                wording,
            )
        )
    return tuple(found)


def check_iam_names(action: str, params: dict) -> None:
    """IAM validates names and paths as its API model says: first every length (its request
    validation, which reports all that fail), then the characters, in IAM's own words.
    moto takes ``<b>x</b>``, 80 characters or ``rôle`` as a role name.

    Wording: "1 validation error detected: Value '...' at 'roleName' failed to satisfy
    constraint: Member must have length less than or equal to 64" and "The specified value for
    roleName is invalid. It must contain only alphanumeric characters and/or the following:
    +=,.@_-", ValidationError, 400 (real IAM output quoted in public issues)."""
    constraints = _iam_constraints(action)
    too_long = [
        f"Value '{params[parameter]}' at '{member}' failed to satisfy constraint: "
        f"Member must have length less than or equal to {limit}"
        for parameter, member, limit, _pattern, _wording in constraints
        if isinstance(params.get(parameter), str) and limit and len(params[parameter]) > limit
    ]
    if too_long:
        raise _validation_error(too_long)
    for parameter, member, _limit, pattern, wording in constraints:
        value = params.get(parameter)
        if isinstance(value, str) and value and not pattern.fullmatch(value):
            raise AwsError("ValidationError", wording.format(member=member), 400)


def _validation_error(problems: list[str]) -> AwsError:
    count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''}"
    return AwsError("ValidationError", f"{count} detected: " + "; ".join(problems), 400)


def _length_problems(value: str, member: str, shape) -> list[str]:
    problems = []
    if (limit := shape.metadata.get("max")) is not None and len(value) > limit:
        problems.append(
            f"Value at '{member}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {limit}"
        )
    if (least := shape.metadata.get("min")) is not None and len(value) < least:
        problems.append(
            f"Value at '{member}' failed to satisfy constraint: "
            f"Member must have length greater than or equal to {least}"
        )
    return problems


def _pattern_problem(member: str, pattern: str) -> str:
    return (
        f"Value at '{member}' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {pattern}"
    )


def _is_tag_text(value: str) -> bool:
    return all(c in TAG_PUNCTUATION or unicodedata.category(c)[0] in TAG_CATEGORIES for c in value)


@functools.cache
def _iam_shapes(action: str) -> tuple:
    """(the Description member's shape, the tag key's and value's shapes) of an IAM action, from
    IAM's API model as botocore ships it; None where the action has no such member."""
    members = _input_members("iam", action)
    description = members.get("Description")
    if description is not None and "pattern" not in description.metadata:
        description = None  # a managed policy's: no pattern in the model (the generic rule)
    tags = members.get("Tags")
    if tags is None:
        return description, None, None
    tag = tags.member.members
    return description, tag["Key"], tag["Value"]


def check_iam_text(action: str, params: dict) -> None:
    r"""IAM validates a role's Description and every tag against its API model before anything
    else, and reports every member that fails at once. moto keeps a Description of any length
    and any character, tags likewise, and echoes them raw in the XML of every ListRoles and
    ListInstanceProfiles after: a control character there is a document no client can parse.

    Source: botocore's IAM model (data/iam/2010-05-08/service-2.json): roleDescriptionType is at
    most 1000 characters of ``[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*``; tagKeyType
    1 to 128 and tagValueType 0 to 256 characters of ``[\p{L}\p{Z}\p{N}_.:/=+\-@]``. Wording
    as IAM answers (IAM API Reference, "Common Errors", ValidationError; real answers quoted in
    public issues): "1 validation error detected: Value at 'tags.1.member.value' failed to
    satisfy constraint: Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*"
    (IAM no longer repeats the value in these).
    """
    description, tag_key, tag_value = _iam_shapes(action)
    problems = []
    text = params.get("Description")
    if description is not None and isinstance(text, str):
        problems += _length_problems(text, "description", description)
        if not re.fullmatch(description.metadata["pattern"], text):
            problems.append(_pattern_problem("description", description.metadata["pattern"]))
    if tag_key is not None:
        for name, value in params.items():
            found = TAG_PARAMETER.fullmatch(name)
            if not found or not isinstance(value, str):
                continue
            shape = tag_key if found.group(2) == "Key" else tag_value
            member = f"tags.{found.group(1)}.member.{found.group(2).lower()}"
            problems += _length_problems(value, member, shape)
            if not _is_tag_text(value):
                problems.append(_pattern_problem(member, shape.metadata["pattern"]))
    if problems:
        raise _validation_error(problems)


def _member_path(parameter: str) -> str:
    """A query parameter as IAM names it in a validation error: ``Tags.member.2.Value`` is
    ``tags.2.member.value``, ``PolicyDocument`` is ``policyDocument``."""
    parts = parameter.split(".")
    for i in range(len(parts) - 2):
        if parts[i + 1] == "member" and parts[i + 2].isdigit():
            parts[i + 1], parts[i + 2] = parts[i + 2], parts[i + 1]
    return ".".join(part[:1].lower() + part[1:] for part in parts)


@functools.cache
def _top_level_pattern(service: str, action: str, parameter: str) -> str | None:
    member = _input_members(service, action).get(parameter)
    return member.metadata.get("pattern") if member is not None else None


def check_xml_characters(service: str, action: str, params: dict) -> None:
    r"""No parameter of a query API may carry a character XML 1.0 cannot (C0 controls but tab,
    newline and carriage return; U+FFFE, U+FFFF): moto stores values as sent and writes them
    back into its XML answers raw, and botocore cannot parse those (ResponseParserError), so
    one such value breaks every later read that lists it (a tag on an instance breaks every
    DescribeInstances). AWS never echoes one: it refuses them on the way in.

    IAM and STS: ValidationError naming the member and the pattern it breaks (the model's own,
    else the one IAM quotes for free text, ``[\p{L}\p{M}\p{Z}\p{S}\p{N}\p{P}]*``). EC2, whose
    model sets no pattern on tags or names ("Amazon EC2 resources allow any characters", Tag
    restrictions, Amazon EC2 User Guide): ``InvalidCharacter``, "A specified character is
    invalid." (Amazon EC2 API Reference, "Error codes for the Amazon EC2 API", common client
    errors), with which parameter and character, never the value itself.
    """
    for parameter, value in params.items():
        bad = aws_errors.XML_INVALID.search(parameter) or (
            isinstance(value, str) and aws_errors.XML_INVALID.search(value)
        )
        if not bad:
            continue
        character = f"U+{ord(bad.group()):04X}"
        named = aws_errors.xml_safe(parameter)
        if service == "ec2":
            raise AwsError(
                "InvalidCharacter",
                f"A specified character is invalid: {character} in parameter {named}. "
                "Remove control characters from the value.",
                400,
            )
        pattern = _top_level_pattern(service, action, parameter) or IAM_TEXT_PATTERN
        raise _validation_error([_pattern_problem(_member_path(named), pattern)])


def check_identity_policy(document) -> None:
    """An identity policy (inline or managed) names no principal: the principal is whoever
    it is attached to. IAM: MalformedPolicyDocument "Policy document should not specify a
    principal." moto accepts one."""
    try:
        policy = json.loads(document) if isinstance(document, str) else None
    except (ValueError, RecursionError):
        return  # not JSON: moto answers that in IAM's words
    statements = policy.get("Statement") if isinstance(policy, dict) else None
    for statement in statements if isinstance(statements, list) else [statements]:
        if isinstance(statement, dict) and (
            "Principal" in statement or "NotPrincipal" in statement
        ):
            raise AwsError(
                "MalformedPolicyDocument", "Policy document should not specify a principal.", 400
            )


def check_ec2_ids(params: dict) -> None:
    """EC2 refuses an id that is not shaped as its ids are before looking it up:
    ``InvalidInstanceID.Malformed`` 'Invalid id: "i-zzz"', ``InvalidAMIID.Malformed``
    'Invalid id: "x" (expecting "ami-...")' ("(expecting ...)" only when the prefix is not
    there). moto answers NotFound, or launches the image id whatever it is."""
    for name, value in params.items():
        kind = EC2_ID_PARAMETER.fullmatch(name)
        if not kind or not isinstance(value, str):
            continue
        if kind.group(1) == "InstanceId" and not INSTANCE_ID.fullmatch(value):
            raise AwsError("InvalidInstanceID.Malformed", f'Invalid id: "{value}"', 400)
        if kind.group(1) == "ImageId" and not IMAGE_ID.fullmatch(value):
            expecting = "" if value.startswith("ami-") else ' (expecting "ami-...")'
            raise AwsError("InvalidAMIID.Malformed", f'Invalid id: "{value}"{expecting}', 400)


def check(service: str, action: str, params: dict, *, key: AccessKey) -> None:
    """Apply the rules for this operation, if any."""
    if service == "iam":
        check_iam_names(action, params)
        check_iam_text(action, params)
        check_xml_characters(service, action, params)
        if action in IDENTITY_POLICY_ACTIONS:
            check_identity_policy(params.get("PolicyDocument"))
    elif service == "ec2":
        check_xml_characters(service, action, params)
        check_ec2_ids(params)
    elif service == "sts":
        check_xml_characters(service, action, params)
    match (service, action):
        case ("iam", "CreateRole"):
            check_trust_policy(params.get("AssumeRolePolicyDocument", ""))
        case ("iam", "UpdateAssumeRolePolicy"):
            check_trust_policy(params.get("PolicyDocument", ""))
        case (
            "ec2",
            "RunInstances" | "AssociateIamInstanceProfile" | "ReplaceIamInstanceProfileAssociation",
        ):
            check_instance_profile(params, account_id=key.sandbox.account_id)
        case ("sts", "AssumeRole"):
            check_assume_role(params, key=key)
