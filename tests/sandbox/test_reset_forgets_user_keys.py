"""A reset forgets the keys the learner made for their own IAM users: the users are gone, so
the gate must not know their keys either (IAM: a deleted user's access keys stop working)."""

import pytest

from learnlab.gate.client import aws_client
from learnlab.sandbox.models import AccessKey
from learnlab.sandbox.services import sandbox_reset

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_reset_forgets_the_keys_of_the_learners_own_users(sandbox):
    iam = aws_client("iam", sandbox=sandbox)
    iam.create_user(UserName="operator")
    key = iam.create_access_key(UserName="operator")["AccessKey"]["AccessKeyId"]
    assert AccessKey.objects.filter(access_key_id=key, kind=AccessKey.Kind.IAM_USER).exists()
    sandbox_reset(sandbox=sandbox)
    assert not AccessKey.objects.filter(access_key_id=key).exists()
    assert sandbox.access_keys.filter(kind=AccessKey.Kind.LAB_USER).count() == 1
