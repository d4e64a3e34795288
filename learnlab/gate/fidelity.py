"""Where moto is laxer than AWS, answer as AWS does, before the request reaches moto.

Each rule takes the request's parameters and the caller's access key, and raises an AwsError
worded as AWS words it (sources in reference/moto.md §3.2, §3.3, §5).
"""

import json
import re

from moto.iam.exceptions import MalformedPolicyDocument
from moto.iam.policy_validation import IAMTrustPolicyDocumentValidator

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


def check_own_account(texts: list[str], *, account_id: str, protocol: str) -> None:
    """No request may name an account but the sandbox's own: moto takes accounts from ARNs and
    from bare ids (``--peer-owner-id``, ``--owners``), so any 12-digit id counts."""
    for text in texts:
        for match in ACCOUNT_ID.finditer(text):
            if match.group() != account_id:
                raise aws_errors.other_account(protocol, account_id=account_id)


def check_trust_policy(document: str) -> None:
    """CreateRole and UpdateAssumeRolePolicy: AWS validates the trust policy's shape."""
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
                if not isinstance(value, str) or not pattern.match(value):
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
        match = PROFILE_ARN.match(arn)
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
    match = ROLE_ARN.match(role_arn)
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


def check(service: str, action: str, params: dict, *, key: AccessKey) -> None:
    """Apply the rules for this operation, if any."""
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
