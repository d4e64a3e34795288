"""A learner's own IAM user keys never reach another learner's keys: deleting or deactivating
another learner's key id, or a CreateAccessKey answer that names one, leaves that key as it was
(its sandbox, its secret, still accepted by the gate)."""

import json

import pytest
from botocore.exceptions import ClientError

from learnlab.gate.client import aws_client
from learnlab.gate.user_keys import user_keys_follow
from learnlab.sandbox.models import AccessKey

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice_user_key(make_sandbox):
    """Alice (a sandbox) with an IAM user of her own and a key for it."""
    alice = make_sandbox()
    iam = aws_client("iam", sandbox=alice)
    iam.create_user(UserName="worker")
    made = iam.create_access_key(UserName="worker")["AccessKey"]
    return alice, AccessKey.objects.get(access_key_id=made["AccessKeyId"])


@pytest.fixture
def bob_user_key(make_sandbox):
    """Bob (another sandbox) with his own IAM user key, the key a hostile learner calls with."""
    bob = make_sandbox()
    iam = aws_client("iam", sandbox=bob)
    iam.create_user(UserName="worker")
    made = iam.create_access_key(UserName="worker")["AccessKey"]
    return bob, AccessKey.objects.get(access_key_id=made["AccessKeyId"])


def _unchanged(key: AccessKey) -> None:
    now = AccessKey.objects.get(pk=key.pk)
    assert (now.sandbox_id, now.secret_access_key, now.principal_arn, now.kind) == (
        key.sandbox_id,
        key.secret_access_key,
        key.principal_arn,
        key.kind,
    )


@pytest.mark.parametrize(
    "params",
    [
        {"Action": "DeleteAccessKey", "UserName": "worker"},
        {"Action": "UpdateAccessKey", "UserName": "worker", "Status": "Inactive"},
    ],
)
def test_another_learners_key_id_is_not_forgotten(alice_user_key, bob_user_key, params):
    """Even had the sandbox server answered success, Bob's call forgets nothing of Alice's."""
    _, alices = alice_user_key
    _, bobs = bob_user_key
    params = {**params, "AccessKeyId": alices.access_key_id}

    user_keys_follow(service="iam", params=params, body=b"<ok/>", key=bobs)

    _unchanged(alices)


def test_an_answer_naming_another_learners_key_does_not_take_it_over(alice_user_key, bob_user_key):
    alice, alices = alice_user_key
    _, bobs = bob_user_key
    body = (
        "<CreateAccessKeyResponse><CreateAccessKeyResult><AccessKey>"
        "<UserName>worker</UserName>"
        f"<AccessKeyId>{alices.access_key_id}</AccessKeyId>"
        "<Status>Active</Status><SecretAccessKey>bobs-own-secret</SecretAccessKey>"
        "</AccessKey></CreateAccessKeyResult></CreateAccessKeyResponse>"
    ).encode()

    user_keys_follow(service="iam", params={"Action": "CreateAccessKey"}, body=body, key=bobs)

    _unchanged(alices)
    assert AccessKey.objects.get(access_key_id=alices.access_key_id).sandbox == alice


def test_a_lab_key_id_is_not_forgotten_by_a_user_key(make_sandbox, bob_user_key):
    """Neither another learner's lab key nor the caller's own lab key goes with a user key call."""
    alice = make_sandbox()
    bob, bobs = bob_user_key
    for lab_key in (alice.lab_key(), bob.lab_key()):
        params = {"Action": "DeleteAccessKey", "AccessKeyId": lab_key.access_key_id}
        user_keys_follow(service="iam", params=params, body=b"<ok/>", key=bobs)
        _unchanged(lab_key)


def test_through_the_gate_bob_cannot_touch_alices_key(alice_user_key, bob_user_key):
    """The real path: Bob's own user key asks the gate to delete and deactivate Alice's key
    id; he is told it does not exist (in his account), and Alice's key still works."""
    alice, alices = alice_user_key
    bob, bobs = bob_user_key
    iam = aws_client("iam", sandbox=bob, key=bobs)
    iam_as_lab = aws_client("iam", sandbox=bob)
    iam_as_lab.put_user_policy(
        UserName="worker",
        PolicyName="iam",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}],
            }
        ),
    )
    for call in (
        lambda: iam.update_access_key(
            UserName="worker", AccessKeyId=alices.access_key_id, Status="Inactive"
        ),
        lambda: iam.delete_access_key(UserName="worker", AccessKeyId=alices.access_key_id),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "NoSuchEntity"
        assert alice.account_id not in str(refused.value)

    _unchanged(alices)
    sts = aws_client("sts", sandbox=alice, key=alices)
    assert sts.get_caller_identity()["Account"] == alice.account_id
