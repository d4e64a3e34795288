"""Where moto is laxer than AWS and a learner meets it, answer with AWS's codes and words.

The rules that need the account's state run here, inside the sandbox server, on moto's
backends (so one account is one sandbox, and a rebuild's replay meets the same rules). The
rules that read only the request run in the gate (``learnlab/gate/fidelity.py``).

- ``NoSuchEntity`` worded as IAM words it: "The role with name X cannot be found.", "Instance
  Profile X cannot be found.", "Policy <arn> was not found." (GetPolicy), "Policy <arn> does
  not exist or is not attachable." (Attach*Policy). moto says "Role X not found".
- A trust policy naming an IAM role or user of the account that does not exist is refused
  (``MalformedPolicyDocument`` "Invalid principal in policy: ..."), as IAM refuses it at
  CreateRole and UpdateAssumeRolePolicy: it resolves each principal to its unique id.
- RunInstances: an AMI the account cannot see (``InvalidAMIID.NotFound``), and an AMI whose
  architecture the instance type cannot run (``InvalidParameterValue``). moto launches any
  image id on any instance type.
- StartInstances and StopInstances of a terminated instance: ``IncorrectInstanceState``.
  moto brings a terminated instance back to life.

Each patch runs before moto's own method and raises moto's exceptions, which moto renders in
each protocol's own shape. ``install()`` patches the classes once per process.
"""

import functools
import inspect
import json

from moto.ec2.exceptions import EC2ClientError, InvalidAMIIdError
from moto.ec2.models import EC2Backend
from moto.ec2.models.instance_types import INSTANCE_TYPES
from moto.iam.exceptions import MalformedPolicyDocument, NotFoundException
from moto.iam.models import IAMBackend

# What RunInstances launches when the request names no instance type (moto's default too).
DEFAULT_INSTANCE_TYPE = "m1.small"

_installed = False


def install() -> None:
    """Patch moto's backend classes; called once by the sandbox server at import."""
    global _installed
    if _installed:
        return
    for cls, method, check in CHECKS:
        _check_before(cls, method, check)
    for cls, method, reword in REWORDED:
        _reworded(cls, method, reword)
    _installed = True


def _check_before(cls, method: str, check) -> None:
    original = getattr(cls, method)
    signature = inspect.signature(original)

    @functools.wraps(original)
    def checked(self, *args, **kwargs):
        check(self, **_arguments(signature, self, args, kwargs))
        return original(self, *args, **kwargs)

    setattr(cls, method, checked)


def _arguments(signature, self, args, kwargs) -> dict:
    """The call's arguments by name, defaults included and ``**kwargs`` spread out."""
    call = signature.bind(self, *args, **kwargs)
    call.apply_defaults()
    named = {}
    for name, value in call.arguments.items():
        if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
            named.update(value)
        elif name != "self":
            named[name] = value
    return named


def _reworded(cls, method: str, reword) -> None:
    """moto's method, its NoSuchEntity answered in IAM's words (``reword`` gets the call's
    arguments and returns the message)."""
    original = getattr(cls, method)
    signature = inspect.signature(original)

    @functools.wraps(original)
    def reworded(self, *args, **kwargs):
        try:
            return original(self, *args, **kwargs)
        except NotFoundException as error:
            message = reword(**_arguments(signature, self, args, kwargs))
            if message is None:
                raise
            raise NotFoundException(message) from error

    setattr(cls, method, reworded)


# IAM: NoSuchEntity as IAM words it.


def _role_not_found(*, role_name, **_):
    return f"The role with name {role_name} cannot be found."


def _profile_not_found(*, profile_name, **_):
    return f"Instance Profile {profile_name} cannot be found."


def _policy_not_found(*, policy_arn, **_):
    return f"Policy {policy_arn} was not found."


def _attach_group_policy(iam, *, policy_arn, group_name):
    """AttachGroupPolicy: an unknown policy is "not attachable", as for roles and users."""
    if policy_arn not in {p.arn for p in iam.managed_policies.values()}:
        raise NotFoundException(f"Policy {policy_arn} does not exist or is not attachable.")


def _update_user(iam, *, user_name, **_):
    iam.get_user(user_name)  # moto's own words there are IAM's


# IAM: a trust policy's principals must exist.


def _statements(document: str) -> list:
    try:
        policy = json.loads(document)
    except (TypeError, ValueError, RecursionError):
        return []  # not JSON: the gate and moto word that
    statements = policy.get("Statement", []) if isinstance(policy, dict) else []
    return statements if isinstance(statements, list) else [statements]


def _aws_principals(document: str) -> list[str]:
    found = []
    for statement in _statements(document):
        if not isinstance(statement, dict):
            continue
        for field in ("Principal", "NotPrincipal"):
            principal = statement.get(field)
            if isinstance(principal, dict):
                values = principal.get("AWS", [])
                found += [v for v in (values if isinstance(values, list) else [values])]
    return [value for value in found if isinstance(value, str)]


def _principals_exist(iam, document: str) -> None:
    """IAM resolves each role or user principal of its own account to that entity's unique id
    when it stores a trust policy, so one that does not exist is refused."""
    own = f"arn:aws:iam::{iam.account_id}:"
    known = None
    for value in _aws_principals(document):
        if not value.startswith((own + "role/", own + "user/")):
            continue  # *, an account, its root, a session: nothing to resolve
        if known is None:
            known = {role.arn for role in iam.roles.values()}
            known |= {user.arn for user in iam.users.values()}
        if value not in known:
            raise MalformedPolicyDocument(
                f"Invalid principal in policy: {json.dumps('AWS')}:{json.dumps(value)}"
            )


def _create_role(iam, *, assume_role_policy_document, **_):
    _principals_exist(iam, assume_role_policy_document)


def _update_assume_role_policy(iam, *, role_name, policy_document):
    iam.get_role(role_name)  # a missing role is named first, as IAM does
    _principals_exist(iam, policy_document)


# EC2


def _architectures(instance_type: str) -> list[str]:
    info = INSTANCE_TYPES.get(instance_type, {})
    return info.get("ProcessorInfo", {}).get("SupportedArchitectures", [])


def _run_instances(ec2, *, image_id, **kwargs):
    """RunInstances: the image must exist for the account, and run on the instance type."""
    if not image_id:
        return  # a launch template supplies it; moto answers that case itself
    ami = ec2.amis.get(image_id)
    if ami is None:
        raise InvalidAMIIdError(image_id)
    instance_type = kwargs.get("instance_type") or DEFAULT_INSTANCE_TYPE
    supported = _architectures(instance_type)
    if supported and ami.architecture and ami.architecture not in supported:
        named = "x86_64" if "x86_64" in supported else supported[0]
        raise EC2ClientError(
            "InvalidParameterValue",
            f"The architecture '{named}' of the specified instance type does not match the "
            f"architecture '{ami.architecture}' of the specified AMI. Specify an instance "
            "type and an AMI that have matching architectures, and try again. You can use "
            "'describe-instance-types' or 'describe-images' to discover the architecture of "
            "the instance type or AMI.",
        )


def _terminated(ec2, instance_ids, verb: str, article: str) -> None:
    for instance in ec2.get_multi_instances_by_id(instance_ids):
        if instance.state in ("terminated", "shutting-down"):
            raise EC2ClientError(
                "IncorrectInstanceState",
                f"{article} instance '{instance.id}' is not in a state from which it can be "
                f"{verb}.",
            )


def _start_instances(ec2, *, instance_ids):
    _terminated(ec2, instance_ids, "started", "The")


def _stop_instances(ec2, *, instance_ids):
    _terminated(ec2, instance_ids, "stopped", "This")


CHECKS = (
    (IAMBackend, "create_role", _create_role),
    (IAMBackend, "update_assume_role_policy", _update_assume_role_policy),
    (IAMBackend, "attach_group_policy", _attach_group_policy),
    (IAMBackend, "update_user", _update_user),
    (EC2Backend, "run_instances", _run_instances),
    (EC2Backend, "start_instances", _start_instances),
    (EC2Backend, "stop_instances", _stop_instances),
)
REWORDED = (
    (IAMBackend, "get_role", _role_not_found),
    (IAMBackend, "get_instance_profile", _profile_not_found),
    (IAMBackend, "get_policy", _policy_not_found),
)
