"""Lab keys rotate: after a rotation or a reset only the new key works, at the gate and in moto."""

import pytest
from botocore.exceptions import ClientError

from learnlab.gate.client import aws_client
from learnlab.sandbox import connection
from learnlab.sandbox.models import AccessKey, Sandbox
from learnlab.sandbox.services import sandbox_keys_rotate, sandbox_reset

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _refused(sandbox, key) -> str:
    with pytest.raises(ClientError) as error:
        aws_client("sts", sandbox=sandbox, key=key).get_caller_identity()
    return error.value.response["Error"]["Code"]


def _only_key_in_moto(sandbox) -> list[str]:
    keys = aws_client("iam", sandbox=sandbox).list_access_keys(UserName="learnlab")
    return [k["AccessKeyId"] for k in keys["AccessKeyMetadata"]]


def test_rotation_retires_the_old_key_at_once(sandbox):
    old = sandbox.lab_key()
    new = sandbox_keys_rotate(sandbox=sandbox)
    assert new.access_key_id != old.access_key_id
    assert new.secret_access_key != old.secret_access_key
    assert _refused(sandbox, old) == "InvalidClientTokenId"
    identity = aws_client("sts", sandbox=sandbox, key=new).get_caller_identity()
    assert identity["Arn"] == sandbox.lab_user_arn
    assert _only_key_in_moto(sandbox) == [new.access_key_id]
    assert list(AccessKey.objects.filter(sandbox=sandbox).values_list("pk", flat=True)) == [new.pk]


def test_reset_rotates_the_keys(sandbox, aws):
    old = sandbox.lab_key()
    sandbox_reset(sandbox=sandbox)
    new = sandbox.lab_key()
    assert new.access_key_id != old.access_key_id
    refused = aws(
        "sts", "get-caller-identity", key_id=old.access_key_id, secret=old.secret_access_key
    )
    assert refused.returncode != 0 and "InvalidClientTokenId" in refused.stderr
    aws(
        "sts",
        "get-caller-identity",
        key_id=new.access_key_id,
        secret=new.secret_access_key,
        check=True,
    )
    assert _only_key_in_moto(sandbox) == [new.access_key_id]


def test_rotation_of_a_dropped_or_lost_sandbox_brings_it_back_with_the_new_key(make_sandbox):
    dropped, lost = make_sandbox(), make_sandbox()
    for sandbox, status in ((dropped, Sandbox.Status.DROPPED), (lost, Sandbox.Status.READY)):
        # Dropped as the reaper does; "lost" as an unnoticed restart leaves it (still READY).
        connection.account_drop(sandbox.account_id)
        Sandbox.objects.filter(pk=sandbox.pk).update(status=status)
        sandbox.status = status
        old = sandbox.lab_key()
        new = sandbox_keys_rotate(sandbox=sandbox)
        assert _refused(sandbox, old) == "InvalidClientTokenId"
        assert aws_client("sts", sandbox=sandbox, key=new).get_caller_identity()["Account"] == (
            sandbox.account_id
        )
        assert _only_key_in_moto(sandbox) == [new.access_key_id]
