"""Ids shaped as AWS shapes them: AIDA users, AROA roles, AIPA instance profiles, ANPA
policies, one id per thing everywhere AWS shows it.

AWS's "Unique identifiers" (IAM User Guide, reference_identifiers, "Understanding unique ID
prefixes"): a four-letter prefix naming the kind of thing (AIDA user, AGPA group, AROA role,
AIPA instance profile, ANPA managed policy) and 17 upper-case letters and digits, 21 in all. In
today's accounts the first eight after the prefix encode the account, as in access key ids
(captured output: ``AIPAVJV7MGT3UHRAPLDQH`` and ``AROAVJV7MGT35ADFGYUUP`` in one account).

moto 5.2.5 shapes only role ids so (``random_role_id``); users, groups and instance profiles get
20 random lower-case characters (``random_resource_id``) and policies ``A`` and 20 characters
(``random_policy_id``). Each of those is replaced here by an AWS-shaped id derived from the one
moto drew: moto still draws exactly as before from ``mock_random``, which the sandbox server
seeds per forwarded call (``X-LearnLab-Seed``), so a rebuilt sandbox shows the same ids, and every
other id of the same call (and of logs recorded before this module) stays what it was. AWS
managed policies have one id in every account, as in AWS: it is derived from the policy's name.

EC2 shows an instance profile by the same id as IAM: ``IamInstanceProfile.Id`` of an instance
(RunInstances, DescribeInstances) is the profile's ``AIPA...`` id, as in its associations, where
moto put the association's id. ``iip-assoc-...`` is only ever an ``AssociationId``; replacing
an association makes a new one, as AWS does (the AWS CLI's own example of
replace-iam-instance-profile-association returns a new ``AssociationId``), and an association
has its ``Timestamp``.

Timestamps as AWS sends them (the AWS CLI's own examples): IAM and STS send whole seconds
(``"Expiration": "2019-11-01T20:26:47Z"``), where moto sends microseconds; EC2 and S3 send
milliseconds (``"LaunchTime": "2018-05-10T08:05:20.000Z"``), as moto already does.
"""

import base64
import functools
import hashlib

from moto.core.serialize import TimestampSerializer
from moto.core.utils import utcnow
from moto.ec2.models.iam_instance_profile import (
    IamInstanceProfileAssociation,
    IamInstanceProfileAssociationBackend,
)
from moto.ec2.utils import random_iam_instance_profile_association_id
from moto.iam.models import AWSManagedPolicy, Group, InstanceProfile, Policy, User
from moto.iam.utils import ACCOUNT_OFFSET, AWS_ROLE_ALPHABET

ID_LENGTH = 21
USER_PREFIX = "AIDA"
GROUP_PREFIX = "AGPA"
ROLE_PREFIX = "AROA"
INSTANCE_PROFILE_PREFIX = "AIPA"
POLICY_PREFIX = "ANPA"
# IAM's and STS's wire format (the query protocol): whole seconds, in UTC.
WHOLE_SECONDS = "%Y-%m-%dT%H:%M:%SZ"

_installed = False


def account_part(account_id: str) -> tuple[str, int]:
    """The eight characters (and a ninth, by the account's parity) that encode the account,
    as in AWS's key ids and moto's role ids (``moto.iam.utils``)."""
    number = int(account_id)
    encoded = base64.b32encode((number // 2 + ACCOUNT_OFFSET).to_bytes(5, "big")).decode()
    return encoded, number % 2


def aws_id(prefix: str, account_id: str, drawn: str) -> str:
    """An AWS-shaped id for the thing moto gave ``drawn``: the same ``drawn``, the same id."""
    digest = base64.b32encode(hashlib.sha256(f"{prefix}:{drawn}".encode()).digest()).decode()
    try:
        encoded, odd = account_part(account_id)
    except (TypeError, ValueError, OverflowError):  # not a 12-digit account: no account part
        return prefix + digest[: ID_LENGTH - len(prefix)]
    half = AWS_ROLE_ALPHABET[16:] if odd else AWS_ROLE_ALPHABET[:16]
    middle = half[AWS_ROLE_ALPHABET.index(digest[0]) % 16]
    head = prefix + encoded + middle
    return head + digest[1 : 1 + ID_LENGTH - len(head)]


def aws_managed_policy_id(name: str) -> str:
    """An AWS managed policy's id: one for each policy, the same in every account."""
    digest = base64.b32encode(hashlib.sha256(f"aws-managed:{name}".encode()).digest()).decode()
    return POLICY_PREFIX + digest[: ID_LENGTH - len(POLICY_PREFIX)]


def install() -> None:
    """Patch moto; called once by the sandbox server at import."""
    global _installed
    if _installed:
        return
    _reshape_id_after_init(User, USER_PREFIX)
    _reshape_id_after_init(Group, GROUP_PREFIX)
    _reshape_id_after_init(InstanceProfile, INSTANCE_PROFILE_PREFIX)
    _reshape_policy_id()
    _association_shows_the_profile_id()
    _replace_makes_a_new_association()
    TimestampSerializer._timestamp_iso8601 = _whole_seconds
    _installed = True


def _reshape_id_after_init(cls, prefix: str) -> None:
    original = cls.__init__

    @functools.wraps(original)
    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.id = aws_id(prefix, self.account_id, self.id)

    cls.__init__ = init


def _reshape_policy_id() -> None:
    original = Policy.__init__

    @functools.wraps(original)
    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if isinstance(self, AWSManagedPolicy):
            self.id = aws_managed_policy_id(self.name)
        else:
            self.id = aws_id(POLICY_PREFIX, self.account_id, self.id)

    Policy.__init__ = init


def _show_profile_on_instance(association) -> None:
    """The instance's ``IamInstanceProfile``: the profile's ARN and id, as IAM shows them."""
    profile = association.iam_instance_profile
    association.ec2_backend.modify_instance_attribute(
        association.instance_id, "iam_instance_profile", {"Arn": profile.arn, "Id": profile.id}
    )


def _association_shows_the_profile_id() -> None:
    original = IamInstanceProfileAssociation.__init__

    @functools.wraps(original)
    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.timestamp = utcnow()
        _show_profile_on_instance(self)

    IamInstanceProfileAssociation.__init__ = init


def _replace_makes_a_new_association() -> None:
    # Wraps whatever is installed (the sandbox server's own fix of DescribeInstances first).
    original = IamInstanceProfileAssociationBackend.replace_iam_instance_profile_association

    @functools.wraps(original)
    def replace(self, *args, **kwargs):
        association = original(self, *args, **kwargs)
        association.association_id = random_iam_instance_profile_association_id()
        association.timestamp = utcnow()
        _show_profile_on_instance(association)
        return association

    IamInstanceProfileAssociationBackend.replace_iam_instance_profile_association = replace


def _whole_seconds(_serializer, value) -> str:
    return value.strftime(WHOLE_SECONDS)
