"""A rewind forgets the keys the learner made for their own IAM users after the moment it goes
back to: the rebuilt account never had them (IAM: a key that does not exist is refused with
InvalidClientTokenId), so the gate must not keep them either; keys made before stay."""

import pytest
from django.utils import timezone

from learnlab.gate.client import aws_client
from learnlab.sandbox.models import AccessKey
from learnlab.sandbox.rewind import sandbox_rewind

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_rewind_forgets_user_keys_made_after_its_moment(sandbox):
    iam = aws_client("iam", sandbox=sandbox)
    iam.create_user(UserName="early")
    early = iam.create_access_key(UserName="early")["AccessKey"]["AccessKeyId"]
    moment = timezone.now()
    iam.create_user(UserName="late")
    late = iam.create_access_key(UserName="late")["AccessKey"]["AccessKeyId"]
    assert AccessKey.objects.filter(access_key_id=late, kind=AccessKey.Kind.IAM_USER).exists()

    sandbox_rewind(sandbox=sandbox, to=moment)

    assert not AccessKey.objects.filter(access_key_id=late).exists()
    assert AccessKey.objects.filter(access_key_id=early, kind=AccessKey.Kind.IAM_USER).exists()
    assert sandbox.access_keys.filter(kind=AccessKey.Kind.LAB_USER).count() == 1


def test_a_rewind_counts_the_log_it_keeps_as_recording_counted_it(sandbox):
    """The replay log's size after a rewind is what recording had counted at the moment (one
    measure, services.call_log_size, for both)."""
    iam = aws_client("iam", sandbox=sandbox)
    iam.create_user(UserName="early", Tags=[{"Key": "team", "Value": "blue"}])
    sandbox.refresh_from_db()
    at_moment = (sandbox.log_calls, sandbox.log_bytes)
    moment = timezone.now()
    iam.create_user(UserName="late")
    sandbox.refresh_from_db()
    assert sandbox.log_bytes > at_moment[1]

    sandbox_rewind(sandbox=sandbox, to=moment)

    sandbox.refresh_from_db()
    assert (sandbox.log_calls, sandbox.log_bytes) == at_moment
