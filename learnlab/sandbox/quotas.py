"""Per-sandbox quotas, enforced inside the sandbox server on moto's backends.

moto accepts whatever it is given: 3,000 instances in one call, megabyte policies that every
later call of their owner re-parses under the server's one lock, thousands of roles, hundreds of
MiB in S3. Each of those held the server, and so every other learner, for seconds. AWS refuses
them, so the sandbox refuses them too, with AWS's limit, error code and wording where AWS has
one, and a lab limit (said so in the message) where AWS's own would still let one learner stall
the class.

The checks run before moto's own method, on the backend (so one account is one sandbox), and
raise moto's exceptions, which moto renders in each protocol's own shape. They are cheap: counts
are ``len()`` of moto's dicts; the only scans (a role's inline policies, a sandbox's S3 objects)
are bounded by the quota itself. ``install()`` patches the backend classes once per process.

Lab limits below AWS's, and why:

- 100 roles, instance profiles, users and groups, 150 customer managed policies per sandbox
  (AWS: 1,000, 1,000, 5,000, 300 and 1,500): a 1,000-role moto account holds about 14 MiB and
  lists its roles in about 0.4 s of exclusive server time; a lab uses a handful.
- A user in at most 10 groups (AWS's quota), each with at most 10 attached policies: every call
  of a user evaluates all its groups' policies.
- 10 instances per sandbox that are not terminated, so at most 10 per call (AWS: a vCPU quota).
- 100 security groups (AWS: 2,500 per region).
- S3: 20 MiB and 1,000 object versions per sandbox (AWS: unlimited), answered with
  ``EntityTooLarge`` (AWS's code for an upload over a size limit) and ``QuotaExceeded``.

EC2 tags are held to AWS's own limits (a key of 128 characters, a value of 256, 50 tags a
resource), which moto checks only in part: a 4 MiB tag value on the default VPC made every
describe of it serialise megabytes under the server's lock. They are checked on the request's
parameters, before moto runs the action, so CreateTags and every call that tags what it creates
(``TagSpecification``: RunInstances, CreateVpc, CreateSecurityGroup...) are refused whole,
before anything is created.
"""

import base64
import binascii
import functools
import inspect
import re
from collections import Counter

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError, TagLimitExceeded
from moto.ec2.models import EC2Backend
from moto.ec2.responses import EC2Response
from moto.ec2.utils import filter_iam_instance_profiles
from moto.iam.exceptions import LimitExceededException, ValidationError
from moto.iam.models import IAMBackend
from moto.s3.exceptions import S3ClientError
from moto.s3.models import S3Backend

from learnlab.sandbox.authorization import template_data

# IAM, as AWS counts them (white space does not count towards a policy's size).
ROLE_INLINE_POLICY_SIZE = 10_240
USER_INLINE_POLICY_SIZE = 2_048
GROUP_INLINE_POLICY_SIZE = 5_120
MANAGED_POLICY_SIZE = 6_144
TRUST_POLICY_SIZE = 2_048
POLICIES_PER_ROLE = 10
POLICIES_PER_USER = 10
POLICIES_PER_GROUP = 10
GROUPS_PER_USER = 10
NAME_LENGTHS = {
    "roleName": 64,
    "userName": 64,
    "groupName": 128,
    "instanceProfileName": 128,
    "policyName": 128,
}
# Lab limits: (AWS's quota name, the lab's limit, AWS's default).
ROLES = ("RolesPerAccount", 100, 1_000)
INSTANCE_PROFILES = ("InstanceProfilesPerAccount", 100, 1_000)
USERS = ("UsersPerAccount", 100, 5_000)
MANAGED_POLICIES = ("PoliciesPerAccount", 150, 1_500)
GROUPS = ("GroupsPerAccount", 100, 300)

# EC2, per sandbox (the lab runs in one region).
INSTANCES = 10
VPCS = 5  # AWS's default per region, the default VPC included
SECURITY_GROUPS = 100
ELASTIC_IPS = 5  # AWS's default per region
TAG_KEY_LENGTH = 128
TAG_VALUE_LENGTH = 256
TAGS_PER_RESOURCE = 50
USER_DATA_BYTES = 16_384  # after base64 decoding
USER_DATA_PARAMETERS = {
    "UserData": "InvalidParameterValue",
    "LaunchTemplateData.UserData": "InvalidUserData.Malformed",
}
# A tag in EC2's query parameters: Tag.N.Key (CreateTags), TagSpecification.N.Tag.M.Value...
TAG_PARAMETER = re.compile(r"^(.*?)(?:^|\.)Tag\.(\d+)\.(Key|Value)$")

# S3, per sandbox.
BUCKETS = 100  # AWS's long-standing default
STORED_BYTES = 20 * 1024 * 1024
STORED_OBJECTS = 1_000

_installed = False


def install() -> None:
    """Patch moto's backend classes: each method below runs its check first."""
    global _installed
    if _installed:
        return
    for cls, method, check in CHECKS:
        _check_before(cls, method, check)
    EC2Response.call_action = _tags_checked_first(EC2Response.call_action)
    EC2Backend.run_instances = _attach_profiles(EC2Backend.run_instances)
    _installed = True


def _check_before(cls, method: str, check) -> None:
    original = getattr(cls, method)
    signature = inspect.signature(original)

    @functools.wraps(original)
    def checked(self, *args, **kwargs):
        call = signature.bind(self, *args, **kwargs)
        call.apply_defaults()
        check(self, **{k: v for k, v in call.arguments.items() if k != "self"})
        return original(self, *args, **kwargs)

    setattr(cls, method, checked)


# IAM


def _size(document: str | None) -> int:
    return len("".join((document or "").split()))


def _name(parameter: str, value: str | None) -> None:
    limit = NAME_LENGTHS[parameter]
    if value is not None and len(value) > limit:
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at '{parameter}' failed to satisfy "
            f"constraint: Member must have length less than or equal to {limit}"
        )


def _count(quota: tuple[str, int, int], current: int) -> None:
    name, limit, aws_default = quota
    if current >= limit:
        raise LimitExceededException(
            f"Cannot exceed quota for {name}: {limit} (a LearnLab sandbox's limit; "
            f"AWS's default is {aws_default:,})"
        )


def _trust_policy(document: str | None) -> None:
    if _size(document) > TRUST_POLICY_SIZE:
        raise LimitExceededException(f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_SIZE}")


def _inline_policies(entity, kind: str, limit: int, policy_name: str, document: str) -> None:
    """The total of an entity's inline policies, the one being put replacing its namesake."""
    others = sum(_size(doc) for name, doc in entity.policies.items() if name != policy_name)
    if others + _size(document) > limit:
        raise LimitExceededException(
            f"Maximum policy size of {limit} bytes exceeded for {kind} {entity.name}"
        )


def _managed_policy(document: str) -> None:
    if _size(document) > MANAGED_POLICY_SIZE:
        raise LimitExceededException(f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_SIZE}")


def _create_role(iam, *, role_name, assume_role_policy_document, **_):
    _name("roleName", role_name)
    _trust_policy(assume_role_policy_document)
    _count(ROLES, len(iam.roles))


def _update_assume_role_policy(iam, *, policy_document, **_):
    _trust_policy(policy_document)


def _put_role_policy(iam, *, role_name, policy_name, policy_json):
    _name("policyName", policy_name)
    role = iam.get_role(role_name)
    _inline_policies(role, "role", ROLE_INLINE_POLICY_SIZE, policy_name, policy_json)


def _put_user_policy(iam, *, user_name, policy_name, policy_json):
    _name("policyName", policy_name)
    user = iam.get_user(user_name)
    _inline_policies(user, "user", USER_INLINE_POLICY_SIZE, policy_name, policy_json)


def _put_group_policy(iam, *, group_name, policy_name, policy_json):
    _name("policyName", policy_name)
    group = iam.get_group(group_name)
    _inline_policies(group, "group", GROUP_INLINE_POLICY_SIZE, policy_name, policy_json)


def _create_policy(iam, *, policy_name, policy_document, **_):
    _name("policyName", policy_name)
    _managed_policy(policy_document)
    _count(MANAGED_POLICIES, len(iam.managed_policies) - len(iam.aws_managed_policies))


def _create_policy_version(iam, *, policy_document, **_):
    _managed_policy(policy_document)


def _attached(entity, policy_arn: str, quota: str, limit: int) -> None:
    if policy_arn not in entity.managed_policies and len(entity.managed_policies) >= limit:
        raise LimitExceededException(f"Cannot exceed quota for {quota}: {limit}")


def _attach_role_policy(iam, *, policy_arn, role_name):
    _attached(iam.get_role(role_name), policy_arn, "PoliciesPerRole", POLICIES_PER_ROLE)


def _attach_user_policy(iam, *, policy_arn, user_name):
    _attached(iam.get_user(user_name), policy_arn, "PoliciesPerUser", POLICIES_PER_USER)


def _attach_group_policy(iam, *, policy_arn, group_name):
    _attached(iam.get_group(group_name), policy_arn, "PoliciesPerGroup", POLICIES_PER_GROUP)


def _create_group(iam, *, group_name, **_):
    _name("groupName", group_name)
    _count(GROUPS, len(iam.groups))


def _add_user_to_group(iam, *, group_name, user_name):
    """A user's groups' policies are all its own: each call of the user evaluates them."""
    user = iam.get_user(user_name)
    if user in iam.get_group(group_name).users:
        return
    if sum(user in group.users for group in iam.groups.values()) >= GROUPS_PER_USER:
        raise LimitExceededException(f"Cannot exceed quota for GroupsPerUser: {GROUPS_PER_USER}")


def _create_instance_profile(iam, *, name, **_):
    _name("instanceProfileName", name)
    _count(INSTANCE_PROFILES, len(iam.instance_profiles))


def _create_user(iam, *, user_name, **_):
    _name("userName", user_name)
    _count(USERS, len(iam.users))


# EC2


def _run_instances(ec2, *, count, **_):
    live = sum(1 for instance in ec2.all_instances() if instance.state != "terminated")
    if live + int(count) > INSTANCES:
        raise EC2ClientError(
            "InstanceLimitExceeded",
            f"You have requested more instances ({live + int(count)}) than your current "
            f"instance limit of {INSTANCES} allows for the specified instance type. "
            f"A LearnLab sandbox runs at most {INSTANCES} instances that are not terminated "
            "(a lab limit): terminate some first.",
        )


def _tags_checked_first(call_action):
    """EC2's actions, each after its request's tags are checked (``_tags``); a refusal is
    answered as moto answers an action's own errors."""

    @functools.wraps(call_action)
    def checked(response):
        try:
            _tags(response.querystring)
            _instance_profile_pair(response.querystring)
            _user_data(response.querystring)
        except EC2ClientError as refused:
            status, headers, body = response.serialized(ActionResult(refused))
            return status, *response._enrich_response(headers, body)
        return call_action(response)

    return checked


def _tags(parameters: dict[str, list[str]]) -> None:
    """Every tag a request names within AWS's lengths, and at most 50 in each tag set."""
    tag_sets = Counter()
    for name, values in parameters.items():
        if not (tag := TAG_PARAMETER.match(name)):
            continue
        tag_set, _number, part = tag.groups()
        limit = TAG_KEY_LENGTH if part == "Key" else TAG_VALUE_LENGTH
        if any(len(value) > limit for value in values):
            raise EC2ClientError(
                "InvalidParameterValue",
                f"Tag {part.lower()} exceeds the maximum length of {limit} characters",
            )
        tag_sets[tag_set] += part == "Key"
    if any(count > TAGS_PER_RESOURCE for count in tag_sets.values()):
        raise TagLimitExceeded()


def _instance_profile_pair(parameters: dict[str, list[str]]) -> None:
    """EC2 takes a profile's Arn or its Name, never both (RunInstances, AssociateIam...,
    ReplaceIam...): real EC2 answers InvalidParameterCombination, even when they agree."""
    if parameters.get("IamInstanceProfile.Arn") and parameters.get("IamInstanceProfile.Name"):
        raise EC2ClientError(
            "InvalidParameterCombination",
            "The parameter 'iamInstanceProfile.name' may not be used in combination with "
            "'iamInstanceProfile.arn'",
        )


def _user_data(parameters: dict[str, list[str]]) -> None:
    """User data "is limited to 16 KB, in raw form, before it is base64-encoded" (EC2 User
    Guide, "Run commands when you launch an EC2 instance with user data input"): over it,
    RunInstances is InvalidParameterValue, CreateLaunchTemplate(Version)
    InvalidUserData.Malformed, as real EC2 words them."""
    for name, code in USER_DATA_PARAMETERS.items():
        for value in parameters.get(name) or ():
            try:
                size = len(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                continue  # moto answers malformed base64 itself
            if size > USER_DATA_BYTES:
                raise EC2ClientError(code, f"User data is limited to {USER_DATA_BYTES} bytes.")


def _attach_profiles(run_instances):
    """EC2 gives every instance of a launch the profile it names; moto's RunInstances gives it
    to the first instance only, and ignores a launch template's IamInstanceProfile (which EC2
    attaches when the request names none). authorization.py has asked iam:PassRole on the
    profile's roles by then."""

    @functools.wraps(run_instances)
    def launched(ec2, *args, **kwargs):
        arn, name = kwargs.get("iam_instance_profile_arn"), kwargs.get("iam_instance_profile_name")
        from_template = not arn and not name
        if from_template:
            spec = template_data(ec2, kwargs.get("launch_template")).get("IamInstanceProfile")
            if isinstance(spec, dict):
                arn, name = spec.get("Arn"), spec.get("Name")
                if arn or name:  # a profile that does not exist: refused before launching
                    filter_iam_instance_profiles(
                        ec2.account_id, ec2.partition, arn, None if arn else name
                    )
        reservation = run_instances(ec2, *args, **kwargs)
        if not arn and not name:
            return reservation
        instances = list(reservation.instances)
        if not from_template:
            instances = instances[1:]  # moto's response attaches it to the first itself
        for instance in instances:
            ec2.associate_iam_instance_profile(
                instance_id=instance.id,
                iam_instance_profile_name=None if arn else name,
                iam_instance_profile_arn=arn,
            )
        return reservation

    return launched


def _create_vpc(ec2, **_):
    if len(ec2.vpcs) >= VPCS:
        raise EC2ClientError("VpcLimitExceeded", "The maximum number of VPCs has been reached.")


def _create_security_group(ec2, *, is_default=None, **_):
    if not is_default and sum(map(len, ec2.groups.values())) >= SECURITY_GROUPS:
        raise EC2ClientError(
            "SecurityGroupLimitExceeded",
            "The maximum number of security groups has been reached. "
            f"A LearnLab sandbox holds at most {SECURITY_GROUPS} (a lab limit).",
        )


def _allocate_address(ec2, **_):
    if len(ec2.addresses) >= ELASTIC_IPS:
        raise EC2ClientError(
            "AddressLimitExceeded", "The maximum number of addresses has been reached."
        )


# S3


def _create_bucket(s3, **_):
    if len(s3.buckets) >= BUCKETS:
        raise S3ClientError(
            "TooManyBuckets", "You have attempted to create more buckets than allowed"
        )


def _stored(s3, *, replacing: tuple[str, str] | None = None) -> tuple[int, int]:
    """Bytes and object versions the sandbox holds (pending multipart parts included), less
    the object a write to an unversioned bucket would replace. Stops past the object quota."""
    size = objects = 0
    for bucket in s3.buckets.values():
        for name, versions in dict.items(bucket.keys):
            if replacing == (bucket.name, name) and not bucket.is_versioned:
                continue
            objects += len(versions)
            size += sum(getattr(version, "contentsize", 0) for version in versions)
        for multipart in bucket.multiparts.values():
            objects += len(multipart.parts)
            size += sum(part.contentsize for part in multipart.parts.values())
        if objects > STORED_OBJECTS:
            break
    return size, objects


def _store(s3, incoming: int, replacing: tuple[str, str] | None = None) -> None:
    size, objects = _stored(s3, replacing=replacing)
    if objects >= STORED_OBJECTS:
        raise S3ClientError(
            "QuotaExceeded",
            f"A LearnLab sandbox holds at most {STORED_OBJECTS:,} objects and object versions "
            "in S3 (a lab limit; AWS has none). Delete some first.",
        )
    if size + incoming > STORED_BYTES:
        raise S3ClientError(
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size. A LearnLab sandbox stores "
            f"at most {STORED_BYTES // (1024 * 1024)} MiB in S3 (a lab limit; AWS has none): "
            f"{size:,} bytes are stored already. Delete some objects first.",
        )


def _put_object(s3, *, bucket_name, key_name, value, multipart=None, **_):
    if multipart is not None:
        return  # its parts were counted as they were uploaded
    _store(s3, len(value or b""), replacing=(bucket_name, key_name))


def _upload_part(s3, *, value, **_):
    _store(s3, len(value or b""))


def _upload_part_copy(
    s3, *, src_bucket_name, src_key_name, src_version_id, start_byte, end_byte, **_
):
    if start_byte is not None:
        _store(s3, end_byte - start_byte + 1)
        return
    source = s3.get_object(src_bucket_name, src_key_name, version_id=src_version_id)
    _store(s3, getattr(source, "contentsize", 0))


CHECKS = (
    (IAMBackend, "create_role", _create_role),
    (IAMBackend, "update_assume_role_policy", _update_assume_role_policy),
    (IAMBackend, "put_role_policy", _put_role_policy),
    (IAMBackend, "put_user_policy", _put_user_policy),
    (IAMBackend, "put_group_policy", _put_group_policy),
    (IAMBackend, "create_policy", _create_policy),
    (IAMBackend, "create_policy_version", _create_policy_version),
    (IAMBackend, "attach_role_policy", _attach_role_policy),
    (IAMBackend, "attach_user_policy", _attach_user_policy),
    (IAMBackend, "attach_group_policy", _attach_group_policy),
    (IAMBackend, "create_group", _create_group),
    (IAMBackend, "add_user_to_group", _add_user_to_group),
    (IAMBackend, "create_instance_profile", _create_instance_profile),
    (IAMBackend, "create_user", _create_user),
    (EC2Backend, "run_instances", _run_instances),
    (EC2Backend, "create_vpc", _create_vpc),
    (EC2Backend, "create_security_group", _create_security_group),
    (EC2Backend, "allocate_address", _allocate_address),
    (S3Backend, "create_bucket", _create_bucket),
    (S3Backend, "put_object", _put_object),
    (S3Backend, "upload_part", _upload_part),
    (S3Backend, "upload_part_copy", _upload_part_copy),
)
